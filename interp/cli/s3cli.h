/* s3cli.h — the `ubpipe s3` verbs: presign, ls and cp against S3 (or an S3-compatible endpoint).
 *
 *   ubpipe s3 presign s3://BUCKET/KEY [--expires SECONDS]   a GET URL (default 3600 s)
 *   ubpipe s3 ls s3://BUCKET[/PREFIX]                       every object under the prefix
 *   ubpipe s3 cp SRC DST                                    local <-> s3, or s3 -> s3
 *
 * Credentials, region and endpoint come from the standard chain (creds.h).
 * `ls` prints one line per object: "YYYY-MM-DD HH:MM:SS  SIZE  KEY" (UTC).
 * `cp` with a DST ending in '/' (or an existing local directory) appends the
 * source's last path segment; "-" as SRC/DST means stdin/stdout.
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#ifndef UB_S3CLI_H
#define UB_S3CLI_H

/* The verb `ubpipe s3`: argv[0] is "s3", argv[1] the s3 verb; returns the exit status. */
int ub_cmd_s3(int argc, char **argv);

#endif
