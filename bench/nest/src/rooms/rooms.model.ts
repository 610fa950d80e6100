export interface Message {
  order: number;
  username: string;
  content: string;
  createdAt: string;
}

export interface Participant {
  roomId: string;
  username: string;
  avatar: string;
  connected: boolean;
}

export interface Room {
  roomId: string;
  creatorUsername: string;
  messages: Message[];
  // Keyed by socket id, in join order: a re-join from a new socket with the
  // same username adds a second entry, as the original did.
  participants: Map<string, Participant>;
}
