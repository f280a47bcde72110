<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · Customer Session Analyzer</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
% for script in ('confirm.js',) + tuple(get('scripts', ())):
<script src="/static/{{script}}" defer></script>
% end
</head>
<body>
<a class="skip" href="#content">Skip to the content</a>
<header class="top">
  <a class="brand" href="/">Customer Session Analyzer</a>
  % if user:
  <nav class="menu" aria-label="Main">
    % for href, label, role in (('/', 'Dashboard', 'viewer'), ('/sessions', 'Sessions', 'viewer'), ('/funnels', 'Funnels', 'viewer'), ('/retention', 'Retention', 'viewer'), ('/imports', 'Imports', 'analyst'), ('/admin/users', 'Users', 'admin'), ('/admin/schema', 'Schema', 'admin')):
    %   if allows(user.role, role):
    <a href="{{href}}"{{!' aria-current="page"' if path == href else ''}}>{{label}}</a>
    %   end
    % end
    <a href="/account" class="account"{{!' aria-current="page"' if path == '/account' else ''}}>{{user.email}} ({{user.role}})</a>
    <form method="post" action="/logout" class="inline">
      <input type="hidden" name="csrf_token" value="{{csrf}}">
      <button type="submit">Sign out</button>
    </form>
  </nav>
  % end
</header>
<main id="content">
{{!base}}
</main>
</body>
</html>
