% rebase('base.tpl', title='Sign in')
<section class="narrow">
  <h1>Sign in</h1>
  % if message:
  <p class="flash error" role="alert">{{message}}</p>
  % end
  <form method="post" action="/login">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <input type="hidden" name="next" value="{{next}}">
    <label>Email <input type="email" name="email" value="{{email}}" autocomplete="username" required autofocus></label>
    <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</section>
