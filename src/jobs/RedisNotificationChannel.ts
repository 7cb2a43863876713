import { BaseNotificationChannel, type JobNotification, type JobStateNotification } from "agenda";
import { jsonWithDates, type RedisConnections } from "../redis.js";

/**
 * Agenda's job notifications over Redis pub/sub: a job saved on any instance wakes an idle instance at
 * once, instead of at its next poll (JOB_POLL_MS). Without Redis the channel is in-process only.
 */
export class RedisNotificationChannel extends BaseNotificationChannel {
  private readonly channel: string;
  private readonly stateChannel: string;
  private readonly onMessage = (channel: string, message: string) => {
    if (channel === this.channel) void this.notifyHandlers(jsonWithDates.parse(message) as JobNotification);
    else if (channel === this.stateChannel) void this.notifyStateHandlers(jsonWithDates.parse(message) as JobStateNotification);
  };

  constructor(
    private readonly redis: RedisConnections,
    name: string,
  ) {
    super({ channelName: name });
    this.channel = `agenda:${name}:jobs`;
    this.stateChannel = `agenda:${name}:states`;
  }

  async connect(): Promise<void> {
    this.redis.subscriber.on("message", this.onMessage);
    await this.redis.subscriber.subscribe(this.channel, this.stateChannel);
    this.setState("connected");
  }

  async disconnect(): Promise<void> {
    this.redis.subscriber.off("message", this.onMessage);
    await this.redis.subscriber.unsubscribe(this.channel, this.stateChannel).catch(() => undefined);
    this.handlers.clear();
    this.stateHandlers.clear();
    this.setState("disconnected");
  }

  async publish(notification: JobNotification): Promise<void> {
    await this.redis.commands.publish(this.channel, jsonWithDates.stringify(notification));
  }

  async publishState(notification: JobStateNotification): Promise<void> {
    await this.redis.commands.publish(this.stateChannel, jsonWithDates.stringify(notification));
  }
}
