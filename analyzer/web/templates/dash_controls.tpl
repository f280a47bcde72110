% q = v.query
<div class="dash-head">
  <div>
    <h1>{{title}}</h1>
    <p class="range-text">{{present.span(q.start, q.end)}}
    % if q.compare_start:
      <span class="versus">vs {{present.span(q.compare_start, q.compare_end)}}</span>
    % end
    % if ongoing:
      <span class="so-far" title="Today is not over: its figures count up to now, and the trend stops at the current {{q.interval}}.">· today so far</span>
    % end
    </p>
  </div>
  <a class="csv" href="{{v.link('/sessions')}}">See these sessions →</a>
</div>
<div class="controls">
  <nav class="segmented ranges" aria-label="Date range">
    % for name, label in periods:
    <a href="{{v.link(path, period=name)}}"{{!' aria-current="true"' if q.period == name else ''}}>{{label}}</a>
    % end
  </nav>
  <form class="custom-range" method="get" action="{{path}}" aria-label="Custom range">
    % for name, value in hidden_fields(v):
    <input type="hidden" name="{{name}}" value="{{value}}">
    % end
    <label>From <input type="date" name="from" value="{{q.start.isoformat()}}" required></label>
    <label>To <input type="date" name="to" value="{{q.end.isoformat()}}" required></label>
    % if q.compare != 'previous':
    <input type="hidden" name="compare" value="{{q.compare}}">
    % end
    <button type="submit">Apply</button>
  </form>
  <nav class="segmented compare" aria-label="Compare with">
    % for name, label in compares:
    <a href="{{v.link(path, compare=name)}}"{{!' aria-current="true"' if q.compare == name else ''}}>{{label}}</a>
    % end
  </nav>
</div>
% if q.filters:
<div class="chips" role="group" aria-label="Filters">
  <span class="chips-label">Filtered by</span>
  % for f in q.filters:
  <a class="chip{{' negate' if f.negate else ''}}" href="{{v.without_filter(f, path)}}" title="Remove the filter: {{dimension_names.get(f.dimension, f.dimension)}} {{'is not' if f.negate else 'is'}} {{filter_values(f)}}">
    <span class="chip-dim">{{dimension_names.get(f.dimension, f.dimension)}}</span>
    <span class="chip-op">{{'is not' if f.negate else 'is'}}</span>
    <span class="chip-value">{{filter_values(f)}}</span>
    <span class="chip-x" aria-hidden="true">×</span><span class="visually-hidden">(remove this filter)</span>
  </a>
  % end
  % if len(q.filters) > 1:
  <a class="chips-clear" href="{{v.link(path, filters=())}}">Clear all</a>
  % end
</div>
% end
