// Reads a Server-Sent Events body (text/event-stream) into its messages: `id:`, `event:` and
// `data:` lines up to a blank line; lines starting with ':' are comments (the keep-alives).

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** `onChunk` hears every chunk, keep-alives included: the connection is alive. */
export async function* sseMessages(
  body: ReadableStream<Uint8Array>,
  onChunk: () => void = () => {},
): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = "";
  let id: string | null = null;
  let event = "message";
  let data: string[] = [];
  for await (const chunk of body) {
    onChunk();
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const end = buffer.search(/\r?\n/);
      if (end < 0) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(buffer[end] === "\r" ? end + 2 : end + 1);
      if (line === "") {
        if (data.length > 0) yield { id, event, data: data.join("\n") };
        event = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  }
}
