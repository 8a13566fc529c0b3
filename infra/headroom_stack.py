"""The Headroom stack: two Lambda functions over one app (a buffered Mangum Function URL for the API and control
plane, a streaming Web Adapter Function URL for the proxy routes), the DynamoDB tables and S3 bucket of the AWS
store, a least-privilege role, log groups, and alarms notifying an encrypted SNS topic."""

from __future__ import annotations

from aws_cdk import (
    Annotations,
    CfnOutput,
    CfnParameter,
    Duration,
    Environment,
    Fn,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.alarms import FunctionAlarms
from infra.options import LAMBDA_WRITABLE_DIR, WEB_ADAPTER_ACCOUNT, WEB_ADAPTER_VERSION, StackOptions

# The AWS store's tables (headroom/store/aws.py): partition key `pk`, sort key `sk` where noted, TTL on
# `expires_at` where its items expire; savings history and TOIN are durable.
TABLES: dict[str, tuple[bool, bool]] = {
    "counters": (False, True),
    "savings": (True, False),
    "responses": (True, True),
    "conversations": (True, True),
    "toin": (False, False),
}
TTL_ATTRIBUTE = "expires_at"
BLOB_PREFIXES = ("ccr/", "responses/")
MODEL_PREFIX = "models/"
STREAM_PORT = "8080"
DATA_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:Scan",
]
RUNTIME = lambda_.Runtime.PYTHON_3_12


class HeadroomStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, options: StackOptions, *, env: Environment | None = None
    ) -> None:
        description = f"Headroom context-optimization proxy ({options.stage})"
        super().__init__(scope, construct_id, env=env, description=description)
        options.check_assets()
        self.options = options
        self.proxy_keys = self._proxy_keys_parameter()
        self.tables = {name: self._table(name, *shape) for name, shape in TABLES.items()}
        self.bucket = self._bucket()
        self.role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Headroom {options.stage}: its own tables, bucket and log groups only",
        )
        self._grant_data()
        self.alarms = FunctionAlarms(self, "Alarms", stage=options.stage, email=options.alarm_email)
        deps = lambda_.LayerVersion(
            self,
            "DepsLayer",
            code=lambda_.Code.from_asset(str(options.deps_layer_dir)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="Headroom's third-party dependencies (layers/build_deps.py)",
        )
        web_adapter = lambda_.LayerVersion.from_layer_version_arn(self, "WebAdapterLayer", self._web_adapter_arn())
        self.api = self._function("Api", "handlers.api.handler", [deps], {}, "buffered API and control plane (Mangum)")
        self.proxy = self._function(
            "Proxy",
            "handlers/stream/run.sh",
            [deps, web_adapter],
            {
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_PORT": STREAM_PORT,
                "AWS_LWA_READINESS_CHECK_PATH": "/readyz",
                "HEADROOM_PORT": STREAM_PORT,
            },
            "streaming proxy routes (Lambda Web Adapter)",
        )
        self.api_url = self._url(self.api, lambda_.InvokeMode.BUFFERED)
        self.proxy_url = self._url(self.proxy, lambda_.InvokeMode.RESPONSE_STREAM)
        self._outputs()

    def _table(self, name: str, sort_key: bool, ttl: bool) -> dynamodb.Table:
        key = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
        sort = dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING) if sort_key else None
        return dynamodb.Table(
            self,
            f"{name.capitalize()}Table",
            table_name=f"{self.options.prefix}-{name}",
            partition_key=key,
            sort_key=sort,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE if ttl else None,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _bucket(self) -> s3.Bucket:
        expiry = Duration.days(self.options.ccr_ttl_days)
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                *(s3.LifecycleRule(id=f"expire-{p.rstrip('/')}", prefix=p, expiration=expiry) for p in BLOB_PREFIXES),
                s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _grant_data(self) -> None:
        table_arns = [table.table_arn for table in self.tables.values()]
        self.role.add_to_policy(iam.PolicyStatement(actions=DATA_ACTIONS, resources=table_arns))
        blob_arns = [self.bucket.arn_for_objects(f"{prefix}*") for prefix in BLOB_PREFIXES]
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=blob_arns)
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{MODEL_PREFIX}*")])
        )
        if self.options.secret_arn:
            self.role.add_to_policy(
                iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.options.secret_arn])
            )

    def _proxy_keys_parameter(self) -> CfnParameter | None:
        """Without a secret, the Headroom keys are a deploy-time parameter (kept out of the template and the
        synthesized output, though visible in the functions' configuration)."""
        if self.options.secret_arn:
            return None
        return CfnParameter(
            self,
            "HeadroomProxyKeys",
            type="String",
            no_echo=True,
            default="",
            description="Comma-separated Headroom keys clients must send as x-headroom-key (empty: open URL)",
        )

    def _web_adapter_arn(self) -> str:
        if self.options.web_adapter_layer_arn:
            return self.options.web_adapter_layer_arn
        return Fn.sub(
            f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:{WEB_ADAPTER_ACCOUNT}"
            f":layer:LambdaAdapterLayerX86:{WEB_ADAPTER_VERSION}"
        )

    def _environment(self) -> dict[str, str]:
        env = {
            "HEADROOM_STORE": "aws",
            "HEADROOM_AWS_TABLE_PREFIX": self.options.prefix,
            "HEADROOM_AWS_BUCKET": self.bucket.bucket_name,
            "HEADROOM_CCR_TTL": str(self.options.ccr_ttl_s),
            "HEADROOM_WORKSPACE_DIR": f"{LAMBDA_WRITABLE_DIR}/headroom",
            "HEADROOM_RECORD_INLINE": "true",  # Lambda freezes the environment once the response is sent
        }
        if self.options.secret_arn:
            env["HEADROOM_SECRET_ARN"] = self.options.secret_arn
        if self.proxy_keys is not None:
            env["HEADROOM_PROXY_KEYS"] = self.proxy_keys.value_as_string
        return env

    def _function(
        self, name: str, handler: str, layers: list[lambda_.ILayerVersion], extra_env: dict[str, str], purpose: str
    ) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"{name}Logs", removal_policy=RemovalPolicy.DESTROY)
        cfn_log_group = log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = self.options.log_retention_days
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        function = lambda_.Function(
            self,
            f"{name}Function",
            description=f"Headroom {self.options.stage}: {purpose}",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=lambda_.Code.from_asset(str(self.options.code_dir)),
            layers=layers,
            memory_size=self.options.memory_mb,
            timeout=Duration.seconds(self.options.timeout_s),
            reserved_concurrent_executions=self.options.reserved_concurrency,
            environment={**self._environment(), **extra_env},
            role=self.role,
            log_group=log_group,
        )
        function.node.add_dependency(self.role)
        self.alarms.watch(name, function, self.options.timeout_s)
        return function

    def _url(self, function: lambda_.Function, mode: lambda_.InvokeMode) -> lambda_.FunctionUrl:
        """With auth NONE the CDK also grants the public lambda:InvokeFunction limited to URL calls, which
        Function URLs created since October 2025 need."""
        auth = lambda_.FunctionUrlAuthType[self.options.url_auth]
        return function.add_function_url(auth_type=auth, invoke_mode=mode)

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api_url.url, description="Buffered: /v1/compress, control plane")
        CfnOutput(self, "ProxyUrl", value=self.proxy_url.url, description="Streaming: point agents and SDKs here")
        CfnOutput(self, "BucketName", value=self.bucket.bucket_name)
        CfnOutput(self, "TablePrefix", value=self.options.prefix)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn, description="Alarms notify this topic")
        required = "true" if self.options.headroom_key_required else "false"
        CfnOutput(
            self,
            "HeadroomKeyRequired",
            value=required,
            description="true: the secret must set HEADROOM_PROXY_KEYS; clients send it as x-headroom-key",
        )
        if self.options.headroom_key_required:
            Annotations.of(self).add_info(
                "providerKeys=secret: the Headroom key is mandatory. Put HEADROOM_PROXY_KEYS in the secret; the "
                "functions refuse to start without it."
            )
        elif self.options.url_auth == "NONE":
            Annotations.of(self).add_warning_v2(
                "headroom:openUrl",
                "Function URLs with auth NONE: deploy with --parameters HeadroomProxyKeys=<key> (or -c secretArn=...) "
                "so that only holders of a Headroom key can use them.",
            )
