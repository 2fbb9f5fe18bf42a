// Send Message's attachments, turned into what the deployment's model can take: images natively everywhere,
// video and audio natively where the provider accepts them by URL (Gemini), otherwise a note with the URL.
import type { ModelMessage, TextPart, UserContent } from 'ai';
import type { Attachment, UserHistoryMessage } from '../store/threads.ts';

const MEDIA_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mpeg: 'video/mpeg',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  m4a: 'audio/mp4',
  flac: 'audio/flac',
};

function mediaType(attachment: Attachment): string {
  const extension = new URL(attachment.url).pathname.split('.').pop()?.toLowerCase() ?? '';
  return MEDIA_TYPES[extension] ?? (attachment.type === 'video' ? 'video/mp4' : 'audio/mpeg');
}

/** The model message for one history entry; only user turns with attachments change. */
export function toModelMessage(message: unknown, provider: string): ModelMessage {
  const user = message as UserHistoryMessage;
  if (user.role !== 'user' || !user.attachments || user.attachments.length === 0) return message as ModelMessage;
  const text: TextPart = { type: 'text', text: user.content };
  const parts: UserContent = [text];
  const notes: string[] = [];
  for (const attachment of user.attachments) {
    if (attachment.type === 'image') parts.push({ type: 'image', image: new URL(attachment.url) });
    else if (provider === 'google') parts.push({ type: 'file', data: new URL(attachment.url), mediaType: mediaType(attachment) });
    else notes.push(`- ${attachment.type}: ${attachment.url}`);
  }
  if (notes.length > 0) {
    text.text += `\n\nAttachments this model cannot view directly (fetch them with your tools if needed):\n${notes.join('\n')}`;
  }
  return { role: 'user', content: parts };
}
