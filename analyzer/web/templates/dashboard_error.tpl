% rebase('base.tpl', title=title)
<section class="notice-card problem" role="alert">
  <h1>This view cannot be shown</h1>
  <p>{{message}}</p>
  <p>
    % if get('swapped'):
    <a class="button" href="{{swapped}}">Show {{dates[0]}} to {{dates[1]}} instead</a>
    % end
    % if get('first_page'):
    <a class="button" href="{{first_page}}">Open the first page of this list</a>
    % end
    <a class="button{{' secondary' if get('swapped') or get('first_page') else ''}}" href="{{get('home', '/')}}">Open this page's default view</a>
  </p>
</section>
