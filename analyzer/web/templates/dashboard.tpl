% rebase('base.tpl', title=title, scripts=('dashboard.js',))
% q = v.query
% include('dash_controls.tpl')
% if not stats['sessions'].value:
<section class="notice-card" role="status">
  <h2>No sessions in this range</h2>
  <p>Nothing matches {{present.span(q.start, q.end)}}{{' with these filters' if q.filters else ''}}.
     Your data runs from {{present.day(span[0])}} to {{present.day(span[1])}}.</p>
  <p><a class="button" href="{{v.link(period='all', start=span[0], end=span[1])}}">Show all time</a>
  % if q.filters:
     <a class="button secondary" href="{{v.link(filters=())}}">Remove the filters</a>
  % end
  </p>
</section>
% end
<section class="kpis" aria-label="Key figures">
  % shown_changes = present.changes(stats, q.compare_start is not None)
  % for name, (label, kind) in metric_names.items():
  %   m = stats[name]
  %   text, tone, said = shown_changes[name]
  <a class="kpi{{' active' if name == v.metric else ''}}" href="{{v.link(metric=name)}}#trend"
     {{!'aria-current="true"' if name == v.metric else ''}} data-metric="{{name}}">
    <span class="kpi-label">{{label}}</span>
    <span class="kpi-value">{{'≈ ' if m.approximate else ''}}{{present.figure(name, m.value, currency)}}</span>
    % if text:
    <span class="kpi-change {{tone}}" title="{{said}} Before: {{present.figure(name, m.previous, currency)}}">{{text}}<span class="visually-hidden"> ({{said}} Before: {{present.figure(name, m.previous, currency)}})</span></span>
    % end
  </a>
  % end
</section>
% include('dash_trend.tpl')
<section class="breakdowns" aria-label="Breakdowns">
  % for dimension, table in tables.items():
  %   include('dash_table.tpl', dimension=dimension, table=table, full=False)
  % end
</section>
<p class="downloads"><a href="{{v.link(csv=True)}}">Download the key figures as CSV</a></p>
