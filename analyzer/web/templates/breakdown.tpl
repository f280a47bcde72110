% rebase('base.tpl', title=title)
% include('dash_controls.tpl')
<p class="back"><a href="{{v.link()}}#by-{{dimension}}">← Back to the dashboard</a></p>
% include('dash_table.tpl', dimension=dimension, table=table, full=True)
<p class="downloads">
  {{present.count(len(table.rows))}} of {{present.count(table.total_rows)}} values shown.
  <a href="{{v.link(path, csv=True)}}">Download every value as CSV</a>
</p>
