require ["regex", "variables", "fileinto"];
if header :regex "subject" "order ([0-9]+)" { fileinto "Order-${1}"; }
