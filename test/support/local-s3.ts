/** The tests' real S3: the local stack's S3 protocol server (s3rver) on a free port over a temporary directory. */
export { LOCAL_S3_CREDENTIALS, localS3Client, startLocalS3, type LocalS3 } from "../../functions/local/s3-server";
