% rebase('base.tpl', title=title)
<section class="notice-card problem" role="alert">
  <h1>This view cannot be shown</h1>
  <p>{{message}}</p>
  <p><a class="button" href="/">Open the default view</a></p>
</section>
