/**
 * Application Auto Scaling of the endpoint's instance count.
 *
 * - realtime: target tracking on SageMakerVariantInvocationsPerInstance, between min and max (at least 1).
 * - async: scales to zero when idle, as AWS documents for asynchronous endpoints
 *   (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-autoscale.html): target tracking on
 *   ApproximateBacklogSizePerInstance, plus a step policy that adds an instance when the
 *   HasBacklogWithoutCapacity alarm fires. Target tracking alone never leaves zero: with no instance there
 *   is no per-instance backlog to track.
 */
import { Duration, Stack } from "aws-cdk-lib";
import {
  AdjustmentType,
  MetricAggregationType,
  PredefinedMetric,
  ScalableTarget,
  ServiceNamespace,
  StepScalingAction,
} from "aws-cdk-lib/aws-applicationautoscaling";
import { Alarm, ComparisonOperator, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { ApplicationScalingAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { Role } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import { VARIANT_NAME, type ModelEndpoint } from "./model-endpoint";

/** GPU instances take minutes to start: give a new one time to take load before adding another. */
const SCALE_OUT_COOLDOWN = Duration.minutes(5);
/** Scale in slowly: a bursty batch that pauses for a minute should not pay for another cold start. */
const SCALE_IN_COOLDOWN = Duration.minutes(10);

export interface EndpointAutoscalingProps {
  readonly endpoint: ModelEndpoint;
  readonly minInstances: number;
  readonly maxInstances: number;
  /** realtime: invocations per instance per minute to hold. */
  readonly targetInvocationsPerInstance: number;
  /** async: queued requests per instance to hold. */
  readonly targetBacklogPerInstance: number;
}

export class EndpointAutoscaling extends Construct {
  readonly target: ScalableTarget;
  /** async only: the alarm that scales out from zero. */
  readonly backlogWithoutCapacityAlarm?: Alarm;

  constructor(scope: Construct, id: string, props: EndpointAutoscalingProps) {
    super(scope, id);
    const { endpoint } = props;
    this.target = new ScalableTarget(this, "Target", {
      serviceNamespace: ServiceNamespace.SAGEMAKER,
      resourceId: `endpoint/${endpoint.endpointName}/variant/${VARIANT_NAME}`,
      scalableDimension: "sagemaker:variant:DesiredInstanceCount",
      minCapacity: props.minInstances,
      maxCapacity: props.maxInstances,
      // Application Auto Scaling acts through SageMaker's service-linked role, which it creates when the
      // template names it; without a role CDK would create an unused one.
      role: Role.fromRoleArn(
        this,
        "ServiceLinkedRole",
        Stack.of(this).formatArn({
          service: "iam",
          region: "",
          resource: "role",
          resourceName:
            "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/" +
            "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
        }),
      ),
    });
    // The resource id is a plain string: the variant must exist before it can be registered.
    this.target.node.addDependency(endpoint.endpoint);

    if (endpoint.mode === "realtime") {
      this.target.scaleToTrackMetric("InvocationsPerInstance", {
        predefinedMetric: PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        targetValue: props.targetInvocationsPerInstance,
        scaleOutCooldown: SCALE_OUT_COOLDOWN,
        scaleInCooldown: SCALE_IN_COOLDOWN,
      });
      return;
    }

    this.target.scaleToTrackMetric("BacklogPerInstance", {
      customMetric: endpoint.endpointMetric("ApproximateBacklogSizePerInstance", { statistic: "Average" }),
      targetValue: props.targetBacklogPerInstance,
      scaleOutCooldown: SCALE_OUT_COOLDOWN,
      scaleInCooldown: SCALE_IN_COOLDOWN,
    });
    const scaleOutFromZero = new StepScalingAction(this, "ScaleOutFromZero", {
      scalingTarget: this.target,
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: MetricAggregationType.AVERAGE,
      cooldown: SCALE_OUT_COOLDOWN,
    });
    scaleOutFromZero.addAdjustment({ adjustment: 1, lowerBound: 0 });
    this.backlogWithoutCapacityAlarm = new Alarm(this, "BacklogWithoutCapacity", {
      alarmDescription: `Requests are queued on ${endpoint.endpointName} while it has no instance: start one.`,
      metric: endpoint.endpointMetric("HasBacklogWithoutCapacity", {
        statistic: "Average",
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.MISSING,
    });
    this.backlogWithoutCapacityAlarm.addAlarmAction(new ApplicationScalingAction(scaleOutFromZero));
  }
}
