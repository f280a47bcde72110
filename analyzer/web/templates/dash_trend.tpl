% q = v.query
% label = metric_names[v.metric][0]
<section class="card trend" id="trend" aria-labelledby="trend-title">
  <header class="panel-head">
    <h2 id="trend-title">{{label}} <small>by {{dict(intervals).get(q.interval, q.interval).lower()[:-1]}}</small></h2>
    <nav class="segmented small" aria-label="Interval">
      % for name, text in intervals:
      <a href="{{v.link(path, interval=name)}}#trend"{{!' aria-current="true"' if q.interval == name else ''}}>{{text}}</a>
      % end
    </nav>
  </header>
  % if refit:
  <p class="panel-note">By {{q.interval}}: over more than ten years, shorter buckets would be too many to chart.</p>
  % end
  <p class="legend">
    <span class="key current"></span> {{present.span(q.start, q.end)}}
    % if q.compare_start:
    <span class="key previous"></span> {{present.span(q.compare_start, q.compare_end)}}
    % end
  </p>
  <div class="chart-box">
  <svg class="chart" width="100%" height="{{chart.height}}" role="img" aria-labelledby="trend-title trend-desc" focusable="false">
    <desc id="trend-desc">{{label}} from {{present.span(q.start, q.end)}}; the table below holds the numbers.</desc>
    % for y, text in chart.grid:
    <line class="grid" x1="0" x2="100%" y1="{{y}}" y2="{{y}}"></line>
    <text class="y-label" x="0" y="{{y - 5}}">{{text}}</text>
    % end
    <svg class="plot" x="0" y="0" width="100%" height="{{chart.height}}" viewBox="0 0 {{chart.width}} {{chart.height}}" preserveAspectRatio="none">
      % if chart.previous_line:
      <path class="previous-line" d="{{chart.previous_line}}" vector-effect="non-scaling-stroke"></path>
      % end
      % if chart.area:
      <path class="area" d="{{chart.area}}"></path>
      % end
      <path class="line" d="{{chart.line}}" vector-effect="non-scaling-stroke"></path>
    </svg>
    % for x, text, anchor, minor in chart.x_labels:
    <text class="x-label{{' minor' if minor else ''}}" x="{{x}}%" y="{{chart.height - 8}}" text-anchor="{{anchor}}">{{text}}</text>
    % end
    <line class="guide" x1="0" x2="0" y1="{{chart.grid[-1][0]}}" y2="{{chart.bottom}}"></line>
    % for p in chart.points:
    <g class="pt" data-label="{{p.label}}" data-value="{{p.value}}" data-previous="{{p.previous or ''}}" data-x="{{p.x}}">
      <title>{{p.label}}: {{p.value}}{{' (before: ' + p.previous + ')' if p.previous is not None else ''}}</title>
      <rect class="hit" x="{{p.left}}%" y="0" width="{{p.width}}%" height="{{chart.bottom}}"></rect>
      % if p.y_previous is not None:
      <circle class="dot-previous" cx="{{p.x}}%" cy="{{p.y_previous}}" r="3"></circle>
      % end
      % if p.y is not None:
      <circle class="dot" cx="{{p.x}}%" cy="{{p.y}}" r="3.5"></circle>
      % end
    </g>
    % end
  </svg>
  <div class="tip" hidden></div>
  </div>
  <details class="numbers">
    <summary>The numbers</summary>
    <table class="data">
      <thead><tr><th scope="col">{{dict(intervals).get(q.interval, q.interval)[:-1]}}</th><th scope="col" class="num">{{label}}</th>
      % if q.compare_start:
        <th scope="col" class="num">Before</th>
      % end
      </tr></thead>
      <tbody>
      % for p in chart.points:
        <tr><td>{{p.label}}</td><td class="num">{{p.value}}</td>
        % if q.compare_start:
          <td class="num">{{p.previous if p.previous is not None else '—'}}</td>
        % end
        </tr>
      % end
      </tbody>
    </table>
  </details>
  <p class="panel-foot">
  % if path != '/trend':
    <a href="{{v.link('/trend')}}">Open this chart</a> ·
  % end
    <a href="{{v.link('/trend', csv=True)}}">CSV</a></p>
</section>
