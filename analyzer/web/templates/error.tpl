% rebase('base.tpl', title=title)
<section class="error">
  <h1>{{code}} · {{title}}</h1>
  <p>{{message}}</p>
  <p><a href="/">Back to the dashboard</a></p>
</section>
