"""The real parts streamwise runs on: the Kafka broker, Spark, the JVM jars, supervised processes.

Owns processes and the JVM side (jars, the KRaft broker, topics and their partition count, Spark
sessions, PostgreSQL and Redis servers). May import only config and errors: every other package
builds on it.
"""

from streamwise.platform.exceptions import (
    ExposedBindError,
    JavaNotFoundError,
    MavenError,
    PlatformError,
    PortInUseError,
    SecurityError,
    ServiceStartError,
    StorageError,
    TopicError,
)
from streamwise.platform.kafka import ClusterStatus, KafkaCluster, KafkaNode, NodeStatus
from streamwise.platform.partitions import PartitionPlan, PartitionThroughput, plan_partitions
from streamwise.platform.ports import check_bind, check_binds, is_loopback
from streamwise.platform.process import Service, ServiceStatus
from streamwise.platform.security import Acl
from streamwise.platform.topics import TopicInfo, create_topic, delete_topic, describe_topic, list_topics

__all__ = [
    "Acl",
    "ClusterStatus",
    "ExposedBindError",
    "JavaNotFoundError",
    "KafkaCluster",
    "KafkaNode",
    "MavenError",
    "NodeStatus",
    "PartitionPlan",
    "PartitionThroughput",
    "PlatformError",
    "PortInUseError",
    "SecurityError",
    "Service",
    "ServiceStartError",
    "ServiceStatus",
    "StorageError",
    "TopicError",
    "TopicInfo",
    "check_bind",
    "check_binds",
    "create_topic",
    "delete_topic",
    "describe_topic",
    "is_loopback",
    "list_topics",
    "plan_partitions",
]
