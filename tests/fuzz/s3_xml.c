/* s3_xml.c — fuzz target: S3 XML replies — ListObjectsV2 pages, the
 * CreateMultipartUpload UploadId, and error bodies (also the <Error> inside a
 * 200 reply to CompleteMultipartUpload).  s3.c is included for its static
 * parsers (the archive's s3.o is then not linked; s3_upload.o comes with
 * the lake's ops table and uses the private s3_int.h functions defined here). */
#include "fz.h"
#include "../../interp/lake/s3.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ub_buf body = { .p = (char *)data, .len = size, .cap = size };
    ub_err err = { 0 };
    listing x;
    memset(&x, 0, sizeof x);
    if (listing_parse(&x, &body, "bucket", "pre/fix", &err) == 0) {
        for (size_t i = 0; i < x.n; i++)
            if (!x.v[i].key)
                abort();
    }
    listing_clear(&x);
    ub_free(s3_xml_field(&body, "UploadId", "fuzz", &err));
    ub_free(s3_xml_field(&body, "ETag", "fuzz", &err));
    char code[64], msg[512];
    int r = ub_http_parse_error_xml((const char *)data, size, code, sizeof code, msg, sizeof msg);
    if (r == 1 && (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg))
        abort();
    return 0;
}
