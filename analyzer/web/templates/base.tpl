<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · Customer Session Analyzer</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="top">
  <a class="brand" href="/">Customer Session Analyzer</a>
  % if user:
  <nav class="menu">
    <a href="/">Sessions</a>
    % if user.role in ('analyst', 'admin'):
    <a href="/imports">Imports</a>
    % end
    % if user.role == 'admin':
    <a href="/admin/users">Users</a>
    % end
    <a href="/account">{{user.email}} ({{user.role}})</a>
    <form method="post" action="/logout" class="inline">
      <input type="hidden" name="csrf_token" value="{{csrf}}">
      <button type="submit">Sign out</button>
    </form>
  </nav>
  % end
</header>
<main>
{{!base}}
</main>
</body>
</html>
