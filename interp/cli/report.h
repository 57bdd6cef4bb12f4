/* report.h — `ubpipe report FILE REPORT [...]`: render a declared report into one HTML file. */
#ifndef UB_CLI_REPORT_H
#define UB_CLI_REPORT_H
/* argv[0] is "report"; returns the exit status (0, 1 query/database error, 2 usage or spec error) */
int ub_cmd_report(int argc, char **argv);
#endif
