% rebase('base.tpl', title=title)
<p class="crumbs"><a href="/sessions">Sessions</a> › <a href="{{customer_url(s.customer_id)}}">Customer {{s.customer_id}}</a></p>
<h1>Session {{s.session_key}} <small>{{local_time(s.started_at)}} {{zone}}</small></h1>
<section class="card history">
  <h2>In the customer's history</h2>
  <p>Session <strong>{{'{:,}'.format(view.number)}}</strong> of {{'{:,}'.format(view.of)}} of
    <a href="{{customer_url(s.customer_id)}}">customer {{s.customer_id}}</a>.</p>
  <nav class="pager">
    % if view.previous:
    <a rel="prev" href="{{session_url(view.previous.session_key)}}">« Previous session ({{local_time(view.previous.started_at, '%Y-%m-%d %H:%M')}})</a>
    % else:
    <span class="muted">This is their first session.</span>
    % end
    % if view.next:
    <a rel="next" href="{{session_url(view.next.session_key)}}">Next session ({{local_time(view.next.started_at, '%Y-%m-%d %H:%M')}}) »</a>
    % else:
    <span class="muted">This is their latest session.</span>
    % end
  </nav>
</section>
<section class="card">
  <h2>Fields</h2>
  <dl class="fields">
    <dt>Session key</dt><dd>{{s.session_key}}</dd>
    <dt>Customer</dt><dd><a href="{{customer_url(s.customer_id)}}">{{s.customer_id}}</a></dd>
    <dt>Started ({{zone}})</dt><dd>{{local_time(s.started_at)}}</dd>
    <dt>Ended ({{zone}})</dt><dd>{{local_time(s.ended_at)}}</dd>
    <dt>Duration</dt><dd>{{clock(s.duration_s)}} ({{'{:,}'.format(s.duration_s or 0)}} s)</dd>
    <dt>Channel</dt><dd><a href="{{filter_url('channel', s.channel)}}" title="Filter the dashboard by this channel">{{'(unknown)' if s.channel == 'unknown' else s.channel}}</a></dd>
    <dt>Source</dt><dd>{{s.source or '—'}}</dd>
    <dt>Medium</dt><dd>{{s.medium or '—'}}</dd>
    <dt>Campaign</dt><dd>{{s.campaign or '—'}}</dd>
    <dt>Device</dt><dd><a href="{{filter_url('device', s.device)}}" title="Filter the dashboard by this device">{{'(unknown)' if s.device == 'unknown' else s.device}}</a></dd>
    <dt>Country</dt><dd>
      % if s.country:
      <a href="{{filter_url('country', s.country)}}" title="Filter the dashboard by this country">{{country(s.country)}} ({{s.country}})</a>
      % else:
      —
      % end
    </dd>
    <dt>Landing page</dt><dd>
      % if s.landing_page:
      <a href="{{filter_url('landing_page', s.landing_page)}}" title="Filter the dashboard by this landing page">{{s.landing_page}}</a>
      % else:
      —
      % end
    </dd>
    <dt>Exit page</dt><dd>{{s.exit_page or '—'}}</dd>
    <dt>Page views</dt><dd>{{'{:,}'.format(s.page_views)}}</dd>
    <dt>Events</dt><dd>{{'{:,}'.format(s.events)}}</dd>
    <dt>Converted</dt><dd>{{'yes' if s.converted else 'no'}}</dd>
    <dt>Revenue</dt><dd>{{money(s.revenue)}}</dd>
    <dt>Import</dt><dd>{{s.import_id if s.import_id is not None else '—'}}</dd>
  </dl>
</section>
<section class="card">
  <h2>Timeline <small>{{len(view.events)}} event{{'' if len(view.events) == 1 else 's'}}</small></h2>
  % if not view.events:
  <p class="empty">No events were imported for this session (it came from a sessions file).</p>
  % else:
  <table class="timeline">
    <thead><tr><th class="num">Since start</th><th>Time ({{zone}})</th><th>Type</th><th>Page</th><th class="num">Value</th></tr></thead>
    <tbody>
    % for e in view.events:
      <tr>
        <td class="num">+{{clock(max(0, (e.occurred_at - s.started_at).total_seconds()))}}</td>
        <td>{{local_time(e.occurred_at, '%H:%M:%S')}}</td>
        <td>{{e.event_type}}</td>
        <td>{{e.page or '—'}}</td>
        <td class="num">{{money(e.revenue) if e.revenue else ''}}</td>
      </tr>
    % end
    </tbody>
  </table>
  % end
</section>
