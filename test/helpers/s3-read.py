# An independent reader of a bucket: Debian's botocore (the library under `aws s3api`), one
# process for the whole bucket (one `aws` run per key costs seconds on a loaded machine).
#   python3 test/helpers/s3-read.py ENDPOINT BUCKET [refs]
# Prints JSON: every key with its size, MD5 of the bytes, Content-Type, Cache-Control and
# website redirect (and a document's text), as `aws s3api list-objects-v2` / `head-object` / `get-object` report them.
import hashlib, json, sys
try:
    # Debian's awscli 2 carries its own botocore (awscli.botocore), run by /usr/bin/python3.
    import awscli.botocore.session as botocore_session
    from awscli.botocore.config import Config
except ImportError:
    import botocore.session as botocore_session
    from botocore.config import Config

endpoint, bucket = sys.argv[1], sys.argv[2]
# 'refs': only what the reference check needs (the listing, and the documents' bodies).
refs = len(sys.argv) > 3 and sys.argv[3] == 'refs'
# Many small GETs in a row: a generous pool and standard retries (radosgw answers 503 when busy).
s3 = botocore_session.get_session().create_client('s3', endpoint_url=endpoint, region_name='us-east-1', config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 8, 'mode': 'standard'}))
out = {}
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket):
    for o in page.get('Contents', []):
        if refs and o['Key'].startswith('oci-cas/'):
            out[o['Key']] = {'size': o['Size'], 'md5': o['ETag'].strip('"')}
            continue
        r = s3.get_object(Bucket=bucket, Key=o['Key'])
        body = r['Body'].read()
        out[o['Key']] = {
            'size': len(body),
            'md5': hashlib.md5(body).hexdigest(),
            'contentType': r.get('ContentType'),
            'cacheControl': r.get('CacheControl'),
            'redirect': r.get('WebsiteRedirectLocation'),
            'metadata': r.get('Metadata') or {},
        }
        # Documents (everything outside the CAS) with their text, for the reference check.
        if not o['Key'].startswith('oci-cas/') and len(body) < 4 * 1024 * 1024:
            out[o['Key']]['text'] = body.decode('utf-8', 'replace')
json.dump(out, sys.stdout, sort_keys=True)
