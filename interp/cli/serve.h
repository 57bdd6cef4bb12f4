/* serve.h — the `ubpipe serve` verb (cli/serve.c). */
#ifndef UB_CLI_SERVE_H
#define UB_CLI_SERVE_H
/* argv[0] is "serve".  Exit status: 0 after SIGTERM/SIGINT, 2 on usage or
 * spec errors, a second daemon on the state directory, or a busy port. */
int ub_cmd_serve(int argc, char **argv);
#endif
