% rebase('base.tpl', title=title, scripts=('dashboard.js',))
% include('dash_controls.tpl')
<p class="back"><a href="{{v.link()}}#trend">← Back to the dashboard</a></p>
% include('dash_trend.tpl')
