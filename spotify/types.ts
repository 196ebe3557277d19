/**
 * The parts of Spotify's Web API objects Rewind reads (see Spotify's OpenAPI description:
 * PlayHistoryObject, CursorPagingPlayHistoryObject, CurrentlyPlayingObject, TrackObject). Fields
 * removed for development-mode apps in 2026 (popularity, external_ids, available_markets) are
 * optional and never relied on.
 */

export interface SpotifyImage {
  url: string;
  height: number | null;
  width: number | null;
}

export interface SimplifiedArtist {
  id: string | null;
  name: string;
  uri: string | null;
  type: 'artist';
  href: string | null;
  external_urls: { spotify?: string };
}

export interface SimplifiedAlbum {
  id: string | null;
  name: string;
  uri: string | null;
  album_type: string;
  artists: SimplifiedArtist[];
  images: SpotifyImage[];
  release_date: string | null;
  release_date_precision: string | null;
  total_tracks: number;
  type: 'album';
  href: string | null;
  external_urls: { spotify?: string };
}

export interface Track {
  id: string | null;
  name: string;
  uri: string;
  duration_ms: number;
  explicit: boolean;
  is_local: boolean;
  disc_number: number;
  track_number: number;
  preview_url: string | null;
  album: SimplifiedAlbum;
  artists: SimplifiedArtist[];
  type: 'track';
  href: string | null;
  external_urls: { spotify?: string };
  popularity?: number;
}

export interface PlayContext {
  type: string;
  uri: string;
  href: string | null;
  external_urls: { spotify?: string };
}

export interface PlayHistory {
  track: Track;
  played_at: string;
  context: PlayContext | null;
}

export interface RecentlyPlayedPage {
  items: PlayHistory[];
  next: string | null;
  cursors: { after: string; before: string } | null;
  limit: number;
  href: string;
}

export interface CurrentlyPlaying {
  timestamp: number;
  context: PlayContext | null;
  progress_ms: number | null;
  is_playing: boolean;
  item: Track | null;
  currently_playing_type: 'track' | 'episode' | 'ad' | 'unknown';
  actions: { disallows: Record<string, boolean> };
}

export interface PublicUser {
  id: string;
  display_name: string | null;
  uri: string;
  href: string;
  type: 'user';
  external_urls: { spotify?: string };
  images: SpotifyImage[];
}
