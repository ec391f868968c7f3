// Included by path under hiredis/ so that hiredis's generic header names (read.h, sds.h, ...) do not leak
// into the include path of other modules.
#include <hiredis/hiredis.h>
