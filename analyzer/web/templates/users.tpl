% rebase('base.tpl', title='Users')
<h1>Users</h1>
% include('flash.tpl')
<section class="card">
  <h2>Add a user</h2>
  <form method="post" action="/admin/users" class="row">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <label>Email <input type="email" name="email" required></label>
    <label>Password <small>at least {{min_length}} characters</small>
      <input type="password" name="password" autocomplete="new-password" required></label>
    <label>Role <select name="role">
      % for role in roles:
      <option value="{{role}}" {{'selected' if role == 'viewer' else ''}}>{{role}}</option>
      % end
    </select></label>
    <button type="submit">Add user</button>
  </form>
</section>
<div class="table-scroll">
<table class="sessions stack">
  <thead><tr><th>Email</th><th>Role</th><th>Status</th><th>Created</th><th></th></tr></thead>
  <tbody>
  % for p in people:
    <tr>
      <td class="title">{{p.email}}</td>
      <td data-label="Role">
        <form method="post" action="/admin/users/{{p.id}}/role" class="inline">
          <input type="hidden" name="csrf_token" value="{{csrf}}">
          <select name="role" aria-label="Role of {{p.email}}">
          % for role in roles:
            <option value="{{role}}" {{'selected' if role == p.role else ''}}>{{role}}</option>
          % end
          </select>
          <button type="submit">Set role</button>
        </form>
      </td>
      <td data-label="Status">{{'disabled' if p.disabled else 'active'}}</td>
      <td data-label="Created">{{p.created_at.strftime('%Y-%m-%d')}}</td>
      <td>
        <form method="post" action="/admin/users/{{p.id}}/disabled" class="inline">
          <input type="hidden" name="csrf_token" value="{{csrf}}">
          <input type="hidden" name="disabled" value="{{'0' if p.disabled else '1'}}">
          <button type="submit">{{'Enable' if p.disabled else 'Disable'}}</button>
        </form>
      </td>
    </tr>
  % end
  </tbody>
</table>
</div>
<h2>API tokens of all users</h2>
% if tokens:
<div class="table-scroll">
<table class="sessions stack">
  <thead><tr><th>User</th><th>Name</th><th>Scope</th><th>Starts with</th><th>Last used</th><th></th></tr></thead>
  <tbody>
  % for t in tokens:
    <tr>
      <td class="title">{{t.user.email}}</td><td data-label="Name">{{t.name}}</td><td data-label="Scope">{{t.scope}}</td>
      <td data-label="Starts with"><code>{{t.prefix}}…</code></td>
      <td data-label="Last used">{{t.last_used_at.strftime('%Y-%m-%d %H:%M') if t.last_used_at else 'never'}}</td>
      <td>
      % if t.revoked_at:
        revoked
      % else:
        <form method="post" action="/admin/tokens/{{t.id}}/revoke" class="inline">
          <input type="hidden" name="csrf_token" value="{{csrf}}">
          <button type="submit">Revoke</button>
        </form>
      % end
      </td>
    </tr>
  % end
  </tbody>
</table>
</div>
% else:
<p class="empty">No tokens yet.</p>
% end
