% if defined('error') and error:
<p class="flash error" role="alert">{{error}}</p>
% end
% if defined('notice') and notice:
<p class="flash notice" role="status">{{notice}}</p>
% end
