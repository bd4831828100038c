// The parts of libhiredis (Debian libhiredis-dev 0.14.1) that TrellisRedis uses:
// the RESP reader (read.h) and the reply object and its free function (hiredis.h).
#ifndef TRELLIS_CHIREDIS_SHIM_H
#define TRELLIS_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
