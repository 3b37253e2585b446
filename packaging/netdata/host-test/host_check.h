/* One line per check on stdout ("<prog>: ok: <check>" or "... FAIL: ..."),
 * and a count of failures for the exit status. */
#ifndef HOST_CHECK_H
#define HOST_CHECK_H

#include <stdio.h>

static int host_failures = 0;

#define HOST_CHECK(prog, cond, what)                                            \
  do {                                                                          \
    if (cond) {                                                                 \
      printf("%s: ok: %s\n", prog, what);                                       \
    } else {                                                                    \
      printf("%s: FAIL: %s (%s:%d: %s)\n", prog, what, __FILE__, __LINE__, #cond); \
      ++host_failures;                                                          \
    }                                                                           \
    fflush(stdout);                                                             \
  } while (0)

#endif /* HOST_CHECK_H */
