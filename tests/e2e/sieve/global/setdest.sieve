require ["include", "variables"];
global "dest";
set "dest" "FromGlobal";
