% rebase('base.tpl', title='Imports')
<h1>Imports</h1>
% include('flash.tpl')
% shown = check or report
% if shown and not chosen:
%   for warning in shown.warnings + shown.notes:
<p class="flash warning" role="status">{{warning[:1].upper() + warning[1:]}}</p>
%   end
% end
% if bad_rows:
<div class="table-scroll">
<table class="sessions bad-rows">
  <thead><tr><th>Line</th><th>Column</th><th>Value</th><th>Reason</th></tr></thead>
  <tbody>
  % for e in bad_rows:
    <tr><td>{{e.line}}</td><td>{{e.column}}</td><td><code>{{e.value}}</code></td><td>{{e.reason}}</td></tr>
  % end
  </tbody>
</table>
</div>
% end
% if check:
<section class="card">
  <h2>Columns of {{check.file_name}}</h2>
  <p>Detected as {{"an" if check.kind == "events" else "a"}} {{check.kind}} file ({{check.file_format.upper()}}). Change a column and import, or upload
     another file. Nothing has been written yet.</p>
  <form method="post" action="/imports/confirm">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <input type="hidden" name="token" value="{{token}}">
    <input type="hidden" name="kind" value="{{check.kind}}">
    <table class="mapping">
      <thead><tr><th>Field</th><th>Column</th></tr></thead>
      <tbody>
      % for name in check.fields:
      %   current = chosen.get(name, check.mapping.get(name, ''))
        <tr><td><label for="map_{{name}}">{{name}}</label></td><td>
          <select id="map_{{name}}" name="map_{{name}}">
            <option value="">— not used —</option>
      %   if current and current not in check.headers:
            <option value="{{current}}" selected>{{current}}</option>
      %   end
      %   for header in check.headers:
      %     if header == current:
            <option value="{{header}}" selected>{{header}}</option>
      %     else:
            <option value="{{header}}">{{header}}</option>
      %     end
      %   end
          </select></td></tr>
      % end
      </tbody>
    </table>
    % if check.unused_columns:
    <p>Columns not used: {{', '.join(check.unused_columns)}}</p>
    % else:
    <p>Every column is used.</p>
    % end
    <div class="mapping-options">
      <label>Time zone of times without offset <input type="text" name="timezone" value="{{options.timezone}}"></label>
      <label>Year, for a file with months but no dates <input type="number" name="year" min="1971" max="2999"
        inputmode="numeric" placeholder="e.g. 2026" value="{{options.year or ''}}"></label>
      <button type="submit">Import with these columns</button>
    </div>
  </form>
</section>
% end
<section class="card">
  <h2>Import a file</h2>
  <p>CSV (comma, semicolon, tab or pipe; UTF-8, UTF-16 or Windows-1252), NDJSON or a JSON array, plain or gzip:
     session exports (a row per visit) or event exports (a row per page view, grouped by their session id, else
     after 30 minutes of inactivity). All or nothing.</p>
  <form method="post" action="/imports" enctype="multipart/form-data" class="row">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <label>File <input type="file" name="file" required></label>
    <label>Kind <select name="kind">
      <option value="">detect</option><option value="sessions">sessions</option><option value="events">events</option>
    </select></label>
    <label>Time zone of times without offset <input type="text" name="timezone" value="UTC"></label>
    <label>Year, for a file with months but no dates <input type="number" name="year" min="1971" max="2999"
      inputmode="numeric" placeholder="e.g. 2026"></label>
    <button type="submit" name="step" value="check">Check columns first</button>
    <button type="submit" name="step" value="import">Import now</button>
  </form>
  <p><a href="/export.csv">Export every session as CSV</a></p>
</section>
% if imports:
<div class="table-scroll">
<table class="sessions imports">
  <thead><tr><th class="num">#</th><th>Started ({{zone}})</th><th>File</th><th>Kind</th><th>Status</th><th class="num">Rows read</th>
    <th class="num">Sessions created</th><th class="num">Sessions continued</th><th class="num">Events added</th>
    <th class="num">Rows already there</th><th class="num">Extra rows of a session</th><th>By</th><th></th></tr></thead>
  <tbody>
  % for r in imports:
    <tr>
      <td class="num">{{r.id}}</td><td>{{local_time(r.started_at, '%Y-%m-%d %H:%M')}}</td><td class="wrap">{{r.file_name}}</td><td>{{r.kind}}</td>
      <td>{{r.status}}</td><td class="num">{{'{:,}'.format(r.rows_read)}}</td><td class="num">{{'{:,}'.format(r.sessions_written)}}</td>
      <td class="num">{{'{:,}'.format(r.sessions_continued)}}</td><td class="num">{{'{:,}'.format(r.events_written)}}</td>
      <td class="num">{{'{:,}'.format(r.rows_identical)}}</td><td class="num">{{'{:,}'.format(r.extra_rows)}}</td><td class="wrap">{{r.created_by or '—'}}</td>
      <td>
      % if r.status == 'done' and user.role == 'admin':
        <form method="post" action="/imports/{{r.id}}/undo" class="inline" data-confirm="Undo import {{r.id}} ({{r.file_name}})? Its events and the sessions it created are removed.">
          <input type="hidden" name="csrf_token" value="{{csrf}}">
          <button type="submit">Undo</button>
        </form>
      % end
      </td>
    </tr>
  % end
  </tbody>
</table>
</div>
% elif not newest:
<p class="empty">No older imports.</p>
% else:
<p class="empty">No imports yet.</p>
% end
% if not newest or older:
<nav class="pager">
  <span>{{'{:,}'.format(total)}} import{{'' if total == 1 else 's'}} in all</span>
  % if not newest:
  <a href="/imports">« Newest</a>
  % end
  % if older:
  <a href="/imports?before={{older}}">Older »</a>
  % end
</nav>
% end
