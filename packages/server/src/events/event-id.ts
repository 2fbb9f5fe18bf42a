// Event ids carry their position: evt_<seq, 10+ digits><6-character tag of the deployment>.
// Within a deployment they sort in order; the tag keeps ids of different deployments apart, and lets the
// server reject a Last-Event-ID from another deployment's stream instead of silently replaying the wrong range.

const SEQ_DIGITS = 10;
const TAG_LENGTH = 6;

export function deploymentTag(deploymentId: string): string {
  return deploymentId.slice(deploymentId.indexOf('_') + 1).slice(0, TAG_LENGTH).padEnd(TAG_LENGTH, '0');
}

export function formatEventId(deploymentId: string, seq: number): string {
  return `evt_${String(seq).padStart(SEQ_DIGITS, '0')}${deploymentTag(deploymentId)}`;
}

/** The seq an event id names for this deployment, or undefined when it is not one of its ids. */
export function parseEventId(deploymentId: string, eventId: string): number | undefined {
  const match = /^evt_(\d{10,15})([A-Za-z0-9]{6})$/.exec(eventId);
  if (!match || match[2] !== deploymentTag(deploymentId)) return undefined;
  return Number(match[1]);
}
