% rebase('base.tpl', title=title)
% def sort_link(name):
%   current = options.sort
%   return link(sort=('-' + name) if current != '-' + name else name, after=None)
% end
% def arrow(name):
%   return ' ↓' if options.sort == '-' + name else ' ↑' if options.sort == name else ''
% end
% everything = not v.query.filters and not options.narrowed and v.query.period == 'all'
<div class="dash-head">
  <div><h1>Sessions <small>{{'{:,}'.format(total.value)}}{{'+' if total.kind == 'at_least' else ''}}{{' (estimate)' if total.kind == 'estimate' else ''}} {{'in all' if everything else ('match' if total.value == 1 else 'matches')}}, {{sort_names[options.sort]}}</small></h1></div>
  % if user.role in ('analyst', 'admin'):
  <a class="csv" href="{{link(csv=True)}}">Download CSV</a>
  % end
</div>
% include('explore_controls.tpl')
<form class="card explorer-filters" method="get" action="/sessions" aria-label="Search and filter sessions">
  % for name, value in view_fields(v):
  <input type="hidden" name="{{name}}" value="{{value}}">
  % end
  % if options.sort != '-started_at':
  <input type="hidden" name="sort" value="{{options.sort}}">
  % end
  <div class="row">
    <label>Customer id or session key <input type="search" name="q" value="{{options.search or ''}}" maxlength="128"></label>
    <label>Converted
      <select name="converted">
        <option value="">any</option>
        <option value="yes"{{!' selected' if options.converted is True else ''}}>yes</option>
        <option value="no"{{!' selected' if options.converted is False else ''}}>no</option>
      </select>
    </label>
    <label>Landing page contains <input name="landing" value="{{options.landing_contains or ''}}" maxlength="500"></label>
  </div>
  <div class="row">
    <label>Revenue from <input type="number" min="0" step="0.01" name="revenue_min" value="{{options.revenue_min if options.revenue_min is not None else ''}}"></label>
    <label>to <input type="number" min="0" step="0.01" name="revenue_max" value="{{options.revenue_max if options.revenue_max is not None else ''}}"></label>
    <label>Pages from <input type="number" min="0" name="pages_min" value="{{options.page_views_min if options.page_views_min is not None else ''}}"></label>
    <label>to <input type="number" min="0" name="pages_max" value="{{options.page_views_max if options.page_views_max is not None else ''}}"></label>
    <label>Duration (s) from <input type="number" min="0" name="duration_min" value="{{options.duration_min if options.duration_min is not None else ''}}"></label>
    <label>to <input type="number" min="0" name="duration_max" value="{{options.duration_max if options.duration_max is not None else ''}}"></label>
    <button type="submit">Search</button>
    % if options.narrowed:
    <a href="{{clear_link}}">Clear</a>
    % end
  </div>
</form>
<form class="add-filter" method="get" action="/sessions" aria-label="Add a filter">
  % for name, value in view_fields(v) + keep_fields:
  <input type="hidden" name="{{name}}" value="{{value}}">
  % end
  <label>Add a filter
    <select name="add_dim">
      % for d in dimensions:
      <option value="{{d}}">{{dimension_names.get(d, d)}}</option>
      % end
    </select>
  </label>
  <label><input type="checkbox" name="add_not" value="1"> is not</label>
  <label class="visually-hidden" for="add_value">Value</label>
  <input id="add_value" name="add_value" placeholder="value (several: a|b)" required maxlength="500">
  <button type="submit">Add</button>
</form>
% if not page.rows:
  % if first_page and everything:
  <p class="empty">No sessions yet. Once sessions are imported they appear here, newest first.</p>
  % elif first_page:
  <p class="empty">No sessions match. Widen the range (<a href="{{v.link('/sessions', period='all')}}">all time</a>), remove a filter, or clear the search.</p>
  % else:
  <p class="empty">No more sessions. <a href="{{link(after=None)}}">Back to the first page</a></p>
  % end
% else:
<div class="table-scroll">
<table class="sessions">
  <thead>
    <tr><th><a href="{{sort_link('started_at')}}">Started ({{zone}}){{arrow('started_at')}}</a></th><th>Customer</th><th>Channel</th>
        <th>Source / medium</th><th>Device</th><th>Country</th><th>Landing page</th>
        <th class="num"><a href="{{sort_link('page_views')}}">Pages{{arrow('page_views')}}</a></th>
        <th class="num"><a href="{{sort_link('duration_s')}}">Duration{{arrow('duration_s')}}</a></th><th>Converted</th>
        <th class="num"><a href="{{sort_link('revenue')}}">Revenue{{arrow('revenue')}}</a></th></tr>
  </thead>
  <tbody>
  % for s in page.rows:
    <tr>
      <td><a href="{{session_url(s.session_key)}}" title="{{s.session_key}}">{{local_time(s.started_at)}}</a></td>
      <td><a href="{{customer_url(s.customer_id)}}">{{s.customer_id}}</a></td>
      <td>{{present.dimension_value('channel', s.channel)}}</td>
      <td>{{s.source or '—'}} / {{s.medium or '—'}}</td>
      <td>{{present.dimension_value('device', s.device)}}</td>
      <td>{{s.country or '—'}}</td>
      <td class="clip" title="{{s.landing_page or ''}}">{{s.landing_page or '—'}}</td>
      <td class="num">{{s.page_views}}</td>
      <td class="num">{{present.clock(s.duration_s)}}</td>
      <td>{{'yes' if s.converted else 'no'}}</td>
      <td class="num">{{present.money(s.revenue, currency)}}</td>
    </tr>
  % end
  </tbody>
</table>
</div>
<nav class="pager">
  % if not first_page:
  <a href="{{link(after=None)}}">« First page</a>
  % end
  % if page.next_cursor:
  <a rel="next" href="{{link(after=page.next_cursor)}}">Next »</a>
  % end
</nav>
% end
