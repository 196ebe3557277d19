/**
 * A made-up, deterministic music catalogue for the fake Spotify: artists, albums and tracks with
 * Spotify-shaped 22-character base62 ids, rendered as the Web API's objects (the shape a
 * development-mode app gets since 2026: no popularity, external_ids or available_markets).
 */
import type { SimplifiedAlbum, SimplifiedArtist, Track } from '../types.ts';

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A deterministic number from a seed and an index (for "play k of a seeded listener"). */
export function hash2(seed: number, k: number): number {
  return prng((Math.imul(seed >>> 0, 2654435761) ^ Math.imul(k + 1, 40503)) >>> 0)();
}

const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function spotifyId(rand: () => number): string {
  let s = '';
  for (let i = 0; i < 22; i++) s += B62[Math.floor(rand() * 62)];
  return s;
}

const WORDS = [
  'Midnight', 'Paper', 'Golden', 'River', 'Static', 'Velvet', 'Neon', 'Hollow', 'Summer', 'Glass', 'Echo', 'Wild',
  'Silver', 'Northern', 'Electric', 'Quiet', 'Lantern', 'Ocean', 'Ember', 'Satellite', 'Winter', 'Honey', 'Signal',
  'Crimson', 'Harbor', 'Atlas', 'Meadow', 'Thunder', 'Coral', 'Shadow', 'Bloom', 'Orbit', 'Saint', 'Dust', 'Marble',
];
const GENRES = ['indie pop', 'dream pop', 'shoegaze', 'synthwave', 'alt country', 'post-punk', 'neo soul', 'art rock', 'folk', 'house', 'jazz', 'trip hop'];

/** A 32-bit FNV-1a hash of a string, as 8 hex digits (a seed from an id; no node:crypto needed). */
function createHashLite(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

const NOUNS = ['Hearts', 'Lines', 'Birds', 'Rooms', 'Waves', 'Lights', 'Roads', 'Dreams', 'Kids', 'Stones', 'Fires', 'Tides'];

export interface CatalogueArtist {
  id: string;
  name: string;
}
export interface CatalogueAlbum {
  id: string;
  name: string;
  artist: number;
  releaseDate: string;
  totalTracks: number;
}
export interface CatalogueTrack {
  id: string;
  name: string;
  album: number;
  artists: number[];
  durationMs: number;
  trackNumber: number;
  explicit: boolean;
}

/** A file on the listener's own disk, played through Spotify (`is_local`): no ids, no album art. */
export interface CatalogueLocalFile {
  artist: string;
  album: string;
  title: string;
  durationMs: number;
}

export class Catalogue {
  readonly artists: CatalogueArtist[] = [];
  readonly albums: CatalogueAlbum[] = [];
  readonly tracks: CatalogueTrack[] = [];
  readonly localFiles: CatalogueLocalFile[] = [];

  constructor(seed = 7, sizes = { artists: 40, albumsPerArtist: 2, tracksPerAlbum: 8 }) {
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    for (let a = 0; a < sizes.artists; a++) {
      const name = rand() < 0.5 ? `${pick(WORDS)} ${pick(NOUNS)}` : `The ${pick(WORDS)} ${pick(NOUNS)}`;
      this.artists.push({ id: spotifyId(rand), name: `${name}${a >= WORDS.length ? ` ${a}` : ''}` });
      for (let b = 0; b < sizes.albumsPerArtist; b++) {
        const year = 1995 + Math.floor(rand() * 31);
        const album: CatalogueAlbum = {
          id: spotifyId(rand),
          name: `${pick(WORDS)} ${pick(NOUNS)}`,
          artist: a,
          releaseDate: `${year}-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`,
          totalTracks: sizes.tracksPerAlbum,
        };
        this.albums.push(album);
        const albumIndex = this.albums.length - 1;
        for (let t = 0; t < sizes.tracksPerAlbum; t++) {
          const featuring = rand() < 0.15 ? [Math.floor(rand() * sizes.artists)].filter((x) => x !== a) : [];
          this.tracks.push({
            id: spotifyId(rand),
            name: `${pick(WORDS)} ${rand() < 0.5 ? pick(NOUNS) : pick(WORDS)}`,
            album: albumIndex,
            artists: [a, ...featuring],
            durationMs: 120_000 + Math.floor(rand() * 240_000),
            trackNumber: t + 1,
            explicit: rand() < 0.1,
          });
        }
      }
    }
    for (let i = 0; i < 8; i++) {
      this.localFiles.push({
        artist: `${pick(WORDS)} ${pick(NOUNS)} (bootleg)`,
        album: i % 3 === 0 ? '' : `${pick(WORDS)} Demos`,
        title: `${pick(WORDS)} ${pick(WORDS)} ${i + 1}`,
        // Local files have whole-second durations (the URI carries them in seconds).
        durationMs: (150 + Math.floor(rand() * 150)) * 1000,
      });
    }
  }

  /**
   * A local file as the Web API returns it (a recorded currently-playing answer for a local file,
   * tekore issue #200): `is_local: true`, `uri` `spotify:local:<artist>:<album>:<title>:<seconds>`
   * (form-encoded parts), every id, href and album URI null, empty external URLs and images, disc
   * and track number 0, album_type and release date null.
   */
  localTrackObject(i: number): Track {
    const f = this.localFiles[i]!;
    const part = (v: string) => new URLSearchParams({ v }).toString().slice(2);
    return {
      album: {
        album_type: null,
        artists: [],
        external_urls: {},
        href: null,
        id: null,
        images: [],
        name: f.album,
        release_date: null,
        release_date_precision: null,
        type: 'album',
        uri: null,
      } as unknown as Track['album'],
      artists: [{ external_urls: {}, href: null, id: null, name: f.artist, type: 'artist', uri: null }],
      disc_number: 0,
      duration_ms: f.durationMs,
      explicit: false,
      external_urls: {},
      href: null,
      id: null,
      is_local: true,
      name: f.title,
      preview_url: null,
      track_number: 0,
      type: 'track',
      uri: `spotify:local:${part(f.artist)}:${part(f.album)}:${part(f.title)}:${f.durationMs / 1000}`,
    };
  }

  /**
   * Add a track (and its artist and album, found by name or created) to the catalogue, for tests
   * whose plays come from a real export: `id` is the real track id, so the fake can answer
   * GET /v1/tracks/{id} for it. Returns the track's index. Adding the same id again returns it.
   */
  addTrack(t: { id: string; name: string; artistName: string; albumName?: string; durationMs?: number; explicit?: boolean }): number {
    const known = this.trackIndex(t.id);
    if (known !== undefined) return known;
    const rand = prng(Number.parseInt(createHashLite(t.id), 16));
    let artist = this.artists.findIndex((a) => a.name === t.artistName);
    if (artist < 0) artist = this.artists.push({ id: spotifyId(rand), name: t.artistName }) - 1;
    const albumName = t.albumName || t.name;
    let album = this.albums.findIndex((a) => a.name === albumName && a.artist === artist);
    if (album < 0) {
      const year = 1995 + Math.floor(rand() * 31);
      album = this.albums.push({ id: spotifyId(rand), name: albumName, artist, releaseDate: `${year}-01-01`, totalTracks: 1 }) - 1;
    }
    const trackNumber = this.tracks.filter((x) => x.album === album).length + 1;
    this.albums[album]!.totalTracks = trackNumber;
    return (
      this.tracks.push({
        id: t.id,
        name: t.name,
        album,
        artists: [artist],
        durationMs: t.durationMs ?? 120_000 + Math.floor(rand() * 240_000),
        trackNumber,
        explicit: t.explicit ?? false,
      }) - 1
    );
  }

  /** The index of the track with this id, if the catalogue has it. */
  trackIndex(id: string): number | undefined {
    const i = this.tracks.findIndex((t) => t.id === id);
    return i < 0 ? undefined : i;
  }

  artistIndex(id: string): number | undefined {
    const i = this.artists.findIndex((a) => a.id === id);
    return i < 0 ? undefined : i;
  }

  /** An artist's genres (0-3, deterministic from its id; some artists have none, as on Spotify). */
  artistGenres(i: number): string[] {
    const a = this.artists[i]!;
    const rand = prng(Number.parseInt(createHashLite(a.id), 16));
    const n = Math.floor(rand() * 4);
    const out = new Set<string>();
    for (let k = 0; k < n; k++) out.add(GENRES[Math.floor(rand() * GENRES.length)]!);
    return [...out];
  }

  /**
   * An ArtistObject as GET /v1/artists/{id} returns it to a development-mode app since 2026: no
   * `followers`, no `popularity`.
   */
  artistFullObject(i: number, apiUrl: string): Record<string, unknown> {
    const a = this.artists[i]!;
    const key = a.id.toLowerCase();
    return {
      external_urls: { spotify: `https://open.spotify.com/artist/${a.id}` },
      genres: this.artistGenres(i),
      href: `${apiUrl}/v1/artists/${a.id}`,
      id: a.id,
      images: [640, 320, 160].map((size) => ({ height: size, url: `https://i.scdn.co/image/ab6761610000${size === 640 ? 'e5eb' : size === 320 ? '5174' : 'f178'}${key}`, width: size })),
      name: a.name,
      type: 'artist',
      uri: `spotify:artist:${a.id}`,
    };
  }

  /** An AudioFeaturesObject (GET /v1/audio-features/{id}), deterministic from the track's id. */
  audioFeaturesObject(i: number, apiUrl: string): Record<string, unknown> {
    const t = this.tracks[i]!;
    const rand = prng(Number.parseInt(createHashLite(`${t.id}:features`), 16));
    const r3 = () => Math.round(rand() * 1000) / 1000;
    return {
      acousticness: r3(),
      analysis_url: `${apiUrl}/v1/audio-analysis/${t.id}`,
      danceability: r3(),
      duration_ms: t.durationMs,
      energy: r3(),
      id: t.id,
      instrumentalness: r3(),
      key: Math.floor(rand() * 12),
      liveness: r3(),
      loudness: -Math.round(rand() * 30_000) / 1000,
      mode: rand() < 0.6 ? 1 : 0,
      speechiness: r3(),
      tempo: 60 + Math.round(rand() * 120_000) / 1000,
      time_signature: rand() < 0.9 ? 4 : 3,
      track_href: `${apiUrl}/v1/tracks/${t.id}`,
      type: 'audio_features',
      uri: `spotify:track:${t.id}`,
      valence: r3(),
    };
  }

  artistObject(i: number, apiUrl: string): SimplifiedArtist {
    const a = this.artists[i]!;
    return {
      external_urls: { spotify: `https://open.spotify.com/artist/${a.id}` },
      href: `${apiUrl}/v1/artists/${a.id}`,
      id: a.id,
      name: a.name,
      type: 'artist',
      uri: `spotify:artist:${a.id}`,
    };
  }

  albumObject(i: number, apiUrl: string): SimplifiedAlbum {
    const al = this.albums[i]!;
    return {
      album_type: 'album',
      artists: [this.artistObject(al.artist, apiUrl)],
      external_urls: { spotify: `https://open.spotify.com/album/${al.id}` },
      href: `${apiUrl}/v1/albums/${al.id}`,
      id: al.id,
      images: [640, 300, 64].map((size) => ({ height: size, url: `https://i.scdn.co/image/ab67616d0000${size === 640 ? 'b273' : size === 300 ? '1e02' : '4851'}${al.id.slice(0, 22).toLowerCase()}`, width: size })),
      name: al.name,
      release_date: al.releaseDate,
      release_date_precision: 'day',
      total_tracks: al.totalTracks,
      type: 'album',
      uri: `spotify:album:${al.id}`,
    };
  }

  trackObject(i: number, apiUrl: string): Track {
    const t = this.tracks[i]!;
    return {
      album: this.albumObject(t.album, apiUrl),
      artists: t.artists.map((a) => this.artistObject(a, apiUrl)),
      disc_number: 1,
      duration_ms: t.durationMs,
      explicit: t.explicit,
      external_urls: { spotify: `https://open.spotify.com/track/${t.id}` },
      href: `${apiUrl}/v1/tracks/${t.id}`,
      id: t.id,
      is_local: false,
      name: t.name,
      preview_url: null,
      track_number: t.trackNumber,
      type: 'track',
      uri: `spotify:track:${t.id}`,
    };
  }
}
