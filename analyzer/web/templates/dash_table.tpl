% name = dimension_names[dimension]
% current = v.sorted_by(dimension)
% top = max([r.sessions for r in table.rows] or [0])
<section class="card breakdown" id="by-{{dimension}}" aria-labelledby="title-{{dimension}}">
  <header class="panel-head">
    <h2 id="title-{{dimension}}">{{name}}</h2>
    <a class="csv" href="{{v.link('/breakdown/' + dimension, csv=True)}}" aria-label="{{name}} as CSV">CSV</a>
  </header>
  % if not table.rows:
  <p class="empty">No sessions.</p>
  % else:
  <table class="data">
    <thead>
      <tr>
        <th scope="col"{{!' aria-sort="ascending"' if current == 'value' else ''}}><a href="{{v.sort_link(path, dimension, 'value')}}#by-{{dimension}}">{{name}}{{!' <span aria-hidden="true">▴</span>' if current == 'value' else ''}}</a></th>
        % for sort, text in sorts.items():
        <th scope="col" class="num{{' share-col' if sort == 'sessions' else ''}}"{{!' aria-sort="descending"' if sort == current else ''}}><a href="{{v.sort_link(path, dimension, sort)}}#by-{{dimension}}">{{text}}{{!' <span aria-hidden="true">▾</span>' if sort == current else ''}}</a></th>
        % end
      </tr>
    </thead>
    <tbody>
    % for r in table.rows:
    %   shown = present.dimension_value(dimension, r.value)
      <tr>
        <th scope="row" class="label">
          <svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false"><rect class="bar-fill" width="{{'%.2f' % (100.0 * float(r.share or 0))}}" height="10"></rect></svg>
          <a class="filter" href="{{v.with_filter(dimension, r.value if r.value not in (None, '') else none_value)}}" title="Show only {{name.lower()}} {{shown}}">{{shown}}</a>
          <a class="exclude" href="{{v.with_filter(dimension, r.value if r.value not in (None, '') else none_value, negate=True)}}" title="Exclude {{shown}}" aria-label="Exclude {{name.lower()}} {{shown}}">≠</a>
        </th>
        <td class="num">{{present.count(r.sessions)}} <span class="share">{{present.percent(r.share)}}</span></td>
        <td class="num">{{present.percent(r.conversion_rate)}}</td>
        <td class="num">{{present.money(r.revenue, currency)}}</td>
      </tr>
    % end
    </tbody>
  </table>
  % end
  % if not full:
  <p class="panel-foot">{{'Top %d of %s' % (len(table.rows), present.count(table.total_rows)) if table.total_rows > len(table.rows) else present.count(table.total_rows) + (' value' if table.total_rows == 1 else ' values')}}
  % if table.total_rows > len(table.rows):
    · <a href="{{v.link('/breakdown/' + dimension)}}">Show all</a>
  % end
  </p>
  % end
</section>
