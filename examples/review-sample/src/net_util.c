/* Small network helpers for the admin tool.
 * Known defect: a shell command built from user input (ping_host). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns 1 when `host` answers a ping, 0 otherwise. */
int ping_host(const char *host) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ping -c 1 %s", host);
  int rc = system(cmd);
  return rc == 0 ? 1 : 0;
}

/* Counts the dots in a dotted address; -1 for NULL. */
int count_dots(const char *addr) {
  if (addr == NULL) {
    return -1;
  }
  int dots = 0;
  for (size_t i = 0; addr[i] != '\0'; ++i) {
    if (addr[i] == '.') {
      ++dots;
    }
  }
  return dots;
}
