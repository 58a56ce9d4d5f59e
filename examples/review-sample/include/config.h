/* Settings read by config_loader.c. */
#ifndef REVIEW_SAMPLE_CONFIG_H
#define REVIEW_SAMPLE_CONFIG_H

struct settings {
  char user[32];
  char key[64];
  char value[64];
};

void load_user(struct settings *s, const char *name);
int load_config(struct settings *s, const char *path);

#endif
