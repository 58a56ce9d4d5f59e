/* Loads "name=value" settings from a configuration file.
 * Known defects: an unbounded copy into a fixed buffer (load_user) and a
 * FILE* leaked on an error path (load_config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* Copies the user name into the settings. */
void load_user(struct settings *s, const char *name) {
  char user[16];
  strcpy(user, name);
  snprintf(s->user, sizeof s->user, "%s", user);
}

/* Reads the first line of `path` into the settings. Returns 0 on success. */
int load_config(struct settings *s, const char *path) {
  char line[128];
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return -1;
  }
  if (fgets(line, sizeof line, f) == NULL) {
    return -2;
  }
  char *eq = strchr(line, '=');
  if (eq != NULL) {
    *eq = '\0';
    snprintf(s->key, sizeof s->key, "%s", line);
    snprintf(s->value, sizeof s->value, "%s", eq + 1);
  }
  fclose(f);
  return 0;
}
