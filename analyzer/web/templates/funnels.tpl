% rebase('base.tpl', title=title, scripts=('funnels.js',))
% keep_fields = state
% from urllib.parse import urlencode
<div class="dash-head">
  <div><h1>Funnels{{!' <small>' if saved else ''}}{{saved.name if saved else ''}}{{!'</small>' if saved else ''}}</h1></div>
  % if result:
  <a class="csv" href="{{state_link(csv=True)}}">Download CSV</a>
  % end
</div>
% include('explore_controls.tpl', keep=urlencode(keep_fields), keep_fields=keep_fields)
% if notice:
<p class="flash notice">{{notice}}</p>
% end
% if error:
<p class="flash error">{{error}}</p>
% end
<div class="funnel-layout">
<section class="card funnel-builder">
  <h2>Steps</h2>
  <form method="post" action="/funnels/show" aria-label="Build a funnel">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <input type="hidden" name="back" value="{{back}}">
    % if saved:
    <input type="hidden" name="funnel" value="{{saved.id}}">
    % end
    <ol class="steps">
    % for i, r in enumerate(rows + [None] * min(2, max_steps - len(rows)), 1):
      <li>
        % if i > 1:
        <label class="direct"><input type="checkbox" name="direct{{i}}" value="1"{{!' checked' if r and r['direct'] else ''}}> directly after the previous step</label>
        % end
        <label class="visually-hidden" for="kind{{i}}">Step {{i}} kind</label>
        <select id="kind{{i}}" name="kind{{i}}">
          % for name, label in kinds:
          <option value="{{name}}"{{!' selected' if r and r['kind'] == name else ''}}>{{label}}</option>
          % end
        </select>
        <label class="visually-hidden" for="match{{i}}">Step {{i}} match</label>
        <select id="match{{i}}" name="match{{i}}">
          % for name, label in matches:
          <option value="{{name}}"{{!' selected' if r and r['match'] == name else ''}}>{{label}}</option>
          % end
        </select>
        <label class="visually-hidden" for="value{{i}}">Step {{i}} value</label>
        <input id="value{{i}}" name="value{{i}}" value="{{r['value'] if r else ''}}" placeholder="{{'purchase or /products/' if i == 1 else 'leave empty to skip'}}" maxlength="2000">
      </li>
    % end
    </ol>
    <div class="row">
      <label>Count
        <select name="per">
          % for name, label in unit_names.items():
          <option value="{{name}}"{{!' selected' if unit == name else ''}}>{{label}}</option>
          % end
        </select>
      </label>
      <label>Breakdown
        <select name="by">
          % for name, label in by_names.items():
          <option value="{{name or ''}}"{{!' selected' if by == name else ''}}>{{label}}</option>
          % end
        </select>
      </label>
      <button type="submit">Show funnel</button>
    </div>
    % if user.role in ('analyst', 'admin'):
    <div class="row save">
      <label>Name <input name="name" maxlength="100" value="{{funnel_name}}" placeholder="Checkout funnel"></label>
      <button type="submit" formaction="/funnels" class="secondary">Save as new funnel</button>
      % if saved:
      <button type="submit" formaction="/funnels/{{saved.id}}" class="secondary">Save changes</button>
      % end
    </div>
    % end
    <p class="hint">2 to {{max_steps}} steps, in order. A step counts when it happens at the time of the previous step or
      later (the earliest match each time); "directly after" allows no other event in between. A page step matches page views.
      {{'Saving keeps the steps above and the count; the range and filters stay in the link.' if user.role in ('analyst', 'admin') else ''}}</p>
    % if event_types:
    <p class="hint event-types">Event types stored: {{', '.join(event_types[:shown_types])}}{{' and more' if len(event_types) > shown_types else ''}}.</p>
    % end
  </form>
</section>
<aside class="card saved-funnels">
  <h2>Saved funnels</h2>
  % if not all_saved:
  <p class="empty">No saved funnels yet.{{' Build one and save it with a name.' if user.role in ('analyst', 'admin') else ''}}</p>
  % else:
  <ul>
    % for f in all_saved:
    <li><a href="{{v.link('/funnels')}}&funnel={{f.id}}"{{!' aria-current="true"' if saved and saved.id == f.id else ''}}>{{f.name}}</a>
      <small>{{len(f.steps.splitlines())}} steps · {{f.unit}}s</small></li>
    % end
  </ul>
  % end
  % if user.role in ('analyst', 'admin') and saved:
  <form method="post" action="/funnels/{{saved.id}}/delete" class="save" data-confirm="Delete the saved funnel “{{saved.name}}”? This cannot be undone.">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <input type="hidden" name="back" value="{{back}}">
    <button type="submit" class="danger">Delete “{{saved.name}}”</button>
  </form>
  % end
</aside>
</div>
% if result:
% noun = unit_names[unit]
<section class="card">
  <h2>{{noun}} through the steps</h2>
  % if absent:
  <p class="empty absent">No stored event has the type {{' or '.join(repr(a) for a in absent)}}: the types stored are listed under the steps.</p>
  % end
  % if no_pages:
  <p class="empty no-pages">No session in this range{{' with these filters' if v.query.filters else ''}} has page views
    with a page: page steps match nothing here. Use event steps (the types stored are listed under the steps).</p>
  % end
  % if not absent and not no_pages and not result.steps[0].sessions:
  <p class="empty">No {{noun.lower()}} in this range reached the first step. Try a longer range or another first step.</p>
  % end
  <table class="funnel stack">
    <thead><tr><th>#</th><th>Step</th><th class="num">{{noun}}</th><th class="bar-col">Of the first step</th>
      <th class="num">From previous</th><th class="num">Drop-off</th><th class="num">Median time from previous</th></tr></thead>
    <tbody>
    % for i, s in enumerate(result.steps, 1):
      <tr>
        <td class="index">{{i}}</td>
        <td class="title"><code>{{s.step}}</code></td>
        <td class="num" data-label="{{noun}}">{{'{:,}'.format(s.sessions)}}</td>
        <td class="bar-col" data-label="Of the first step"><meter min="0" max="1" value="{{s.conversion_from_first or 0}}"></meter> {{present.percent(s.conversion_from_first) if s.conversion_from_first is not None else '—'}}</td>
        <td class="num" data-label="From previous">{{present.percent(s.conversion_from_previous) if s.conversion_from_previous is not None else '—'}}</td>
        <td class="num" data-label="Drop-off">{{present.percent(s.drop_off) if s.drop_off is not None else '—'}}</td>
        <td class="num" data-label="Median time from previous">{{present.duration(s.median_seconds_from_previous) if s.median_seconds_from_previous is not None else '—'}}</td>
      </tr>
    % end
    </tbody>
  </table>
  % last = result.steps[-1]
  <p class="overall">Overall conversion: <strong>{{present.percent(last.conversion_from_first) if last.conversion_from_first is not None else '—'}}</strong>
    ({{'{:,}'.format(last.sessions)}} of {{'{:,}'.format(result.steps[0].sessions)}} {{noun.lower()}}).</p>
  <nav class="segmented" aria-label="Breakdown">
    % for name, label in by_names.items():
    <a href="{{state_link(by=name or '')}}"{{!' aria-current="true"' if by == name else ''}}>{{label}}</a>
    % end
  </nav>
</section>
% if by:
<section class="card">
  <h2>{{by_names[by]}}</h2>
  <table class="funnel breakdown-steps">
    <thead><tr><th>{{dimension_names[by]}}</th>
      % for i, s in enumerate(result.steps, 1):
      <th class="num" title="{{s.step}}">Step {{i}}</th>
      % end
      <th class="num">Overall</th></tr></thead>
    <tbody>
    % for value, rows in result.groups.items():
      <tr><td><a href="{{filter_link(by, value)}}" title="Filter by this {{by}}">{{value}}</a></td>
        % for s in rows:
        <td class="num">{{'{:,}'.format(s.sessions)}}{{!'' if s.conversion_from_previous is None else ' <small>' + present.percent(s.conversion_from_previous) + '</small>'}}</td>
        % end
        <td class="num">{{present.percent(rows[-1].conversion_from_first) if rows[-1].conversion_from_first is not None else '—'}}</td>
      </tr>
    % end
    </tbody>
  </table>
</section>
% end
% end
