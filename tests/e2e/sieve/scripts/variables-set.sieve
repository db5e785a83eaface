require ["variables", "fileinto"];
set "box" "Archive";
set :upper "tag" "misc";
fileinto "${box}-${tag}";
