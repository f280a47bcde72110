% rebase('base.tpl', title='Schema')
<h1>Schema</h1>
<p class="schema-target">{{target}} is at <strong>{{overview.current or 'no migration yet'}}</strong>,
  {{len(overview.pending)}} pending. This page only reads; change the schema with <code>python manage.py migrate …</code>.</p>
% for problem in overview.problems:
<p class="flash error">Problem: {{problem}}.</p>
% end
<section class="card">
  <h2>Pending migrations</h2>
  % if not overview.pending:
  <p>None: the database is up to date.</p>
  % end
  % for pending in overview.pending:
  <article class="schema-pending">
    <h3>{{pending.name}}</h3>
    <p>Runs {{'in a transaction' if pending.transactional else 'outside a transaction (TRANSACTION = False)'}}.</p>
    % if pending.findings:
    <ul class="schema-findings">
      % for finding in pending.findings:
      <li class="schema-{{'allowed' if finding.overridden else finding.severity}}">
        <strong>{{finding.severity}} {{finding.rule}}</strong> (line {{finding.line}}): {{finding.operation}} — {{finding.why}}.
        Safe alternative: {{finding.fix}}.{{' Allowed: ' + finding.reason if finding.overridden else ''}}
      </li>
      % end
    </ul>
    % else:
    <p>Lint: no findings.</p>
    % end
    % if pending.preview_error:
    <p class="flash error">No SQL preview: {{pending.preview_error}}</p>
    % else:
    <pre class="schema-sql">{{'\n'.join(s.rstrip(';') + ';' for s in pending.statements) or '-- (no SQL)'}}</pre>
    % end
  </article>
  % end
</section>
<section class="card">
  <h2>Applied migrations</h2>
  % if not overview.applied:
  <p>No migration has been applied to this database.</p>
  % else:
  <table class="schema-history stack">
    <thead><tr><th>Applied (UTC)</th><th>Migration</th><th class="num">Took</th><th>By</th><th>Deploy</th><th>Commit</th><th>File</th></tr></thead>
    <tbody>
    % for row in overview.applied:
      <tr>
        <td data-label="Applied (UTC)">{{row.migrated_at.strftime('%Y-%m-%d %H:%M:%S') if hasattr(row.migrated_at, 'strftime') else row.migrated_at}}</td>
        <td class="title">{{row.name}}</td>
        <td data-label="Took" class="num">{{'' if row.duration_ms is None else f'{row.duration_ms:,} ms'}}</td>
        <td data-label="By">{{row.run_by or '—'}}</td>
        <td data-label="Deploy">{{row.deployment_id or '—'}}</td>
        <td data-label="Commit">{{row.git_commit[:12] if row.git_commit else '—'}}</td>
        <td data-label="File">{{'missing' if row.missing else 'edited since it was applied' if row.edited else 'unchanged'}}</td>
      </tr>
    % end
    </tbody>
  </table>
  % end
</section>
<section class="card">
  <h2>Archives of dropped data</h2>
  % if not overview.archives:
  <p>None: no applied migration has dropped a column or a table (or the archives were purged).</p>
  % else:
  <table class="schema-archives stack">
    <thead><tr><th>Archive table</th><th>Holds</th><th class="num">Rows</th><th class="num">Size</th><th>Dropped by</th><th>On (UTC)</th></tr></thead>
    <tbody>
    % for item in overview.archives:
      <tr>
        <td class="title">{{item.entry.archive_table}}</td>
        <td data-label="Holds">{{item.entry.table_name + '.' + item.entry.column_name if item.entry.column_name else 'table ' + item.entry.table_name}}</td>
        <td data-label="Rows" class="num">{{f'{item.entry.rows:,}'}}</td>
        <td data-label="Size" class="num">{{human_size(item.size_bytes)}}</td>
        <td data-label="Dropped by">{{item.entry.migration}}</td>
        <td data-label="On (UTC)">{{item.entry.archived_at.strftime('%Y-%m-%d %H:%M')}}</td>
      </tr>
    % end
    </tbody>
  </table>
  <p>Rolling back the migration brings the data back; <code>python manage.py migrate purge-archives</code> deletes it for good.</p>
  % end
</section>
