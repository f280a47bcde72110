% rebase('base.tpl', title=title)
<p class="crumbs"><a href="/sessions">Sessions</a></p>
<h1>Customer {{c.customer_id}}</h1>
<section class="figures">
  <div class="figure"><span>First seen ({{zone}})</span><strong>{{local_time(c.first_seen, '%Y-%m-%d %H:%M')}}</strong></div>
  <div class="figure"><span>Last seen ({{zone}})</span><strong>{{local_time(c.last_seen, '%Y-%m-%d %H:%M')}}</strong></div>
  <div class="figure"><span>Sessions</span><strong>{{'{:,}'.format(c.sessions)}}</strong></div>
  <div class="figure"><span>Conversions</span><strong>{{'{:,}'.format(c.conversions)}}</strong></div>
  <div class="figure"><span>Lifetime revenue</span><strong>{{money(c.revenue)}}</strong></div>
  <div class="figure"><span>Average order value</span><strong>{{money(c.avg_order_value) if c.avg_order_value is not None else '—'}}</strong></div>
</section>
<section class="card">
  <h2>Channels that brought them</h2>
  <ul class="channels">
  % for name, count in c.channels:
    <li><a href="{{filter_url('channel', name)}}">{{'(unknown)' if name == 'unknown' else name}}</a> <small>{{'{:,}'.format(count)}} session{{'' if count == 1 else 's'}}</small></li>
  % end
  </ul>
</section>
<h2>Sessions <small>newest first</small></h2>
% if not page.rows:
<p class="empty">No older sessions. <a href="{{customer_url(c.customer_id)}}">Back to the newest</a></p>
% else:
<div class="table-scroll">
<table class="sessions">
  <thead>
    <tr><th>Started ({{zone}})</th><th>Session</th><th>Channel</th><th>Device</th><th>Country</th><th>Landing page</th>
        <th class="num">Pages</th><th class="num">Duration</th><th>Converted</th><th class="num">Revenue</th></tr>
  </thead>
  <tbody>
  % for s in page.rows:
    <tr>
      <td>{{local_time(s.started_at)}}</td>
      <td><a href="{{session_url(s.session_key)}}">{{s.session_key}}</a></td>
      <td>{{'(unknown)' if s.channel == 'unknown' else s.channel}}</td>
      <td>{{'(unknown)' if s.device == 'unknown' else s.device}}</td>
      <td>{{s.country or '—'}}</td>
      <td>{{s.landing_page or '—'}}</td>
      <td class="num">{{s.page_views}}</td>
      <td class="num">{{clock(s.duration_s)}}</td>
      <td>{{'yes' if s.converted else 'no'}}</td>
      <td class="num">{{money(s.revenue)}}</td>
    </tr>
  % end
  </tbody>
</table>
</div>
% end
<nav class="pager">
  % if not first_page:
  <a href="{{customer_url(c.customer_id)}}">« Newest</a>
  % end
  % if page.next_cursor:
  <a href="{{customer_url(c.customer_id, page.next_cursor)}}">Older »</a>
  % end
</nav>
