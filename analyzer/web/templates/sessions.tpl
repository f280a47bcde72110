% rebase('base.tpl', title='Sessions')
<h1>Sessions <small>{{'{:,}'.format(total)}} in all, newest first</small></h1>
% if not page.rows:
  % if first_page:
  <p class="empty">No sessions yet. Once sessions are imported they appear here, newest first.</p>
  % else:
  <p class="empty">No older sessions. <a href="/sessions">Back to the newest</a></p>
  % end
% else:
<table class="sessions">
  <thead>
    <tr><th>Started (UTC)</th><th>Customer</th><th>Channel</th><th>Source / medium</th><th>Device</th>
        <th>Country</th><th class="num">Pages</th><th class="num">Duration</th><th>Converted</th><th class="num">Revenue</th></tr>
  </thead>
  <tbody>
  % for s in page.rows:
    <tr>
      <td>{{s.started_at.strftime('%Y-%m-%d %H:%M:%S') if hasattr(s.started_at, 'strftime') else s.started_at}}</td>
      <td title="{{s.session_key}}">{{s.customer_id}}</td>
      <td>{{'(unknown)' if s.channel == 'unknown' else s.channel}}</td>
      <td>{{s.source or '—'}} / {{s.medium or '—'}}</td>
      <td>{{s.device}}</td>
      <td>{{s.country or '—'}}</td>
      <td class="num">{{s.page_views}}</td>
      <td class="num">{{'%d:%02d' % divmod(s.duration_s or 0, 60)}}</td>
      <td>{{'yes' if s.converted else 'no'}}</td>
      <td class="num">{{'{:,.2f}'.format(s.revenue or 0)}}</td>
    </tr>
  % end
  </tbody>
</table>
<nav class="pager">
  % if not first_page:
  <a href="/sessions">« Newest</a>
  % end
  % if page.next_cursor:
  <a href="/sessions?after={{page.next_cursor}}">Older »</a>
  % end
</nav>
% end
