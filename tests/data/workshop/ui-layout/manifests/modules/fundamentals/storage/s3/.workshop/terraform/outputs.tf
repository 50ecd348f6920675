# A stand-in module's outputs, shaped like the workshop's: the variables its pages read.
output "environment_variables" {
  description = "What the learner's shell gets"
  value = {
    BUCKET_NAME      = aws_s3_bucket.lab.id
    DRIVER_ROLE_ARN  = module.driver_role.iam_role_arn
    EKS_CLUSTER_NAME = var.addon_context.eks_cluster_id
    LAB_REGION       = data.aws_region.current.name
    QUEUE_URL        = aws_sqs_queue.events.url
  }
}
