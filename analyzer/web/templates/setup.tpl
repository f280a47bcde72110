% rebase('base.tpl', title='Set up')
<section class="narrow">
  <h1>Create the first admin</h1>
  <p>No user exists yet. The account you create here is an admin: it can add the other users.</p>
  % if message:
  <p class="flash error" role="alert">{{message}}</p>
  % end
  <form method="post" action="/setup">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    % if needs_token:
    <label>Setup token <small>printed in the server log at start</small>
      <input type="text" name="setup_token" autocomplete="off" required></label>
    % end
    <label>Email <input type="email" name="email" value="{{email}}" autocomplete="username" required></label>
    <label>Password <small>at least {{min_length}} characters, not a common one</small>
      <input type="password" name="password" autocomplete="new-password" required></label>
    <label>Password again <input type="password" name="password2" autocomplete="new-password" required></label>
    <button type="submit">Create admin and sign in</button>
  </form>
</section>
