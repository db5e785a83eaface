require ["include", "variables", "fileinto"];
global "dest";
include :global :once "setdest";
include :global :once "setdest";
fileinto "${dest}";
