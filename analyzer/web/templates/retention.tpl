% rebase('base.tpl', title=title)
<div class="dash-head">
  <div><h1>Retention <small>customers by the {{interval}} of their first session</small></h1></div>
  <a class="csv" href="{{link(csv=True)}}">Download CSV</a>
</div>
% include('explore_controls.tpl')
<div class="controls">
  <nav class="segmented" aria-label="Cohort size">
    % for name, label in interval_names.items():
    <a href="{{link(interval=name)}}"{{!' aria-current="true"' if interval == name else ''}}>{{label}}</a>
    % end
  </nav>
  <nav class="segmented" aria-label="What counts as active">
    % for name, label in activity_names.items():
    <a href="{{link(activity=name)}}"{{!' aria-current="true"' if activity == name else ''}}>{{label}}</a>
    % end
  </nav>
</div>
% if by_month:
<p class="hint">By month: over more than ten years, weekly cohorts would be too many to show.</p>
% end
<p class="hint">A cohort is the customers whose first session ever falls in that {{interval}} of the range (and passes the filters).
  Each later column is the share of them {{'with a session' if activity == 'session' else 'with a conversion'}} in that {{interval}}; {{interval}} 0 is their first.</p>
% if not cohorts and returning_only:
<p class="empty">No cohorts: a cohort starts with a customer's first session, and the <em>New vs returning</em>
  filter keeps only returning customers' sessions. Remove that filter to see the cohorts.</p>
% elif not cohorts:
<p class="empty">No customer had their first session in this range{{' with these filters' if v.query.filters else ''}}. Try a longer range or <a href="{{v.link('/retention', period='all')}}&{{keep}}">all time</a>.</p>
% else:
<div class="card">
<table class="retention">
  <thead><tr><th>Cohort</th><th class="num">Customers</th>
    % for n in range(width):
    <th class="num">{{interval.capitalize()}} {{n}}</th>
    % end
  </tr></thead>
  <tbody>
  % for c in cohorts:
    <tr><th scope="row">{{c.name}}</th><td class="num">{{'{:,}'.format(c.customers)}}</td>
    % for p in c.periods:
      <td class="num {{heat(p.share)}}" title="{{'{:,}'.format(p.customers)}} of {{'{:,}'.format(c.customers)}}">{{present.percent(p.share)}}</td>
    % end
    % for n in range(width - len(c.periods)):
      <td class="future"></td>
    % end
    </tr>
  % end
  </tbody>
</table>
</div>
% end
