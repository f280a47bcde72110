% q = v.query
% tail = ('&' + keep) if keep else ''
<div class="controls">
  <nav class="segmented ranges" aria-label="Date range">
    % for name, label in periods:
    <a href="{{v.link(path, period=name)}}{{tail}}"{{!' aria-current="true"' if q.period == name else ''}}>{{label}}</a>
    % end
  </nav>
  <form class="custom-range" method="get" action="{{path}}" aria-label="Custom range">
    % for name, value in hidden_fields(v) + keep_fields:
    <input type="hidden" name="{{name}}" value="{{value}}">
    % end
    <label>From <input type="date" name="from" value="{{q.start.isoformat()}}" required></label>
    <label>To <input type="date" name="to" value="{{q.end.isoformat()}}" required></label>
    <button type="submit">Apply</button>
  </form>
</div>
<p class="range-text">{{present.span(q.start, q.end)}}</p>
% if q.filters:
<div class="chips" role="group" aria-label="Filters">
  <span class="chips-label">Filtered by</span>
  % for f in q.filters:
  <a class="chip{{' negate' if f.negate else ''}}" href="{{v.link(path, filters=tuple(g for g in q.filters if g is not f))}}{{tail}}" title="Remove the filter: {{dimension_names.get(f.dimension, f.dimension)}} {{'is not' if f.negate else 'is'}} {{filter_values(f)}}">
    <span class="chip-dim">{{dimension_names.get(f.dimension, f.dimension)}}</span>
    <span class="chip-op">{{'is not' if f.negate else 'is'}}</span>
    <span class="chip-value">{{filter_values(f)}}</span>
    <span class="chip-x" aria-hidden="true">×</span><span class="visually-hidden">(remove this filter)</span>
  </a>
  % end
</div>
% end
