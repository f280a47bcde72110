% rebase('base.tpl', title='Your account')
<h1>Your account <small>{{user.email}} · {{user.role}}</small></h1>
% include('flash.tpl')
% if new_token:
<section class="card">
  <h2>Your new API token</h2>
  <p>Copy it now: it is stored only as a hash and shown this once.</p>
  <pre class="token">{{new_token}}</pre>
  <p>Use it as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
</section>
% end
<section class="card">
  <h2>Change password</h2>
  <p>Changing it signs out your other sessions.</p>
  <form method="post" action="/account/password">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <label>Current password <input type="password" name="current" autocomplete="current-password" required></label>
    <label>New password <small>at least {{min_length}} characters</small>
      <input type="password" name="password" autocomplete="new-password" required></label>
    <label>New password again <input type="password" name="password2" autocomplete="new-password" required></label>
    <button type="submit">Change password</button>
  </form>
</section>
<section class="card">
  <h2>API tokens</h2>
  <form method="post" action="/account/tokens" class="row">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <label>Name <input type="text" name="name" maxlength="100" placeholder="nightly export"></label>
    <label>Scope <select name="scope">
      % for scope in scopes:
      <option value="{{scope}}">{{scope}}</option>
      % end
    </select></label>
    <button type="submit">Create token</button>
  </form>
  % if tokens:
  <table>
    <thead><tr><th>Name</th><th>Scope</th><th>Starts with</th><th>Created ({{zone}})</th><th>Last used ({{zone}})</th><th></th></tr></thead>
    <tbody>
    % for t in tokens:
      <tr>
        <td>{{t.name}}</td><td>{{t.scope}}</td><td><code>{{t.prefix}}…</code></td>
        <td>{{local_time(t.created_at, '%Y-%m-%d %H:%M')}}</td>
        <td>{{local_time(t.last_used_at, '%Y-%m-%d %H:%M') if t.last_used_at else 'never'}}</td>
        <td>
        % if t.revoked_at:
          revoked
        % else:
          <form method="post" action="/account/tokens/{{t.id}}/revoke" class="inline">
            <input type="hidden" name="csrf_token" value="{{csrf}}">
            <button type="submit">Revoke</button>
          </form>
        % end
        </td>
      </tr>
    % end
    </tbody>
  </table>
  % else:
  <p class="empty">No tokens yet.</p>
  % end
</section>
