% rebase('base.tpl', title=title)
<section class="notice-card welcome">
  <h1>No sessions yet</h1>
  <p>{{'The dashboard' if title == 'Dashboard' else 'This page'}} fills in as soon as there is data. Import an export of your sessions or events, or try the
     analyzer on demo data first.</p>
  <h2>Import a file</h2>
  % if allows(user.role, 'analyst'):
  <p><a class="button" href="/imports">Upload a file on the import page</a> (CSV or NDJSON, plain or gzip), or from a terminal:</p>
  % else:
  <p>Ask an analyst or admin to import your data (a viewer account cannot), on the import page or from a
     terminal:</p>
  % end
  <pre class="command">python manage.py import sessions.csv</pre>
  <h2>Or load demo data</h2>
  <pre class="command">python manage.py demo</pre>
  <p>5,000 realistic sessions of a small online shop over the last 90 days; reload this page afterwards.</p>
</section>
