import { Component, inject } from '@angular/core';
import { Router, RouterOutlet } from '@angular/router';
import { AuthService } from './auth.service';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet],
  template: `
    <header>
      <h1>BFF Angular example</h1>
      @if (auth.user(); as user) {
        <span>{{ user.email }} ({{ user.role }}) <button type="button" (click)="logout()">Log out</button></span>
      }
    </header>
    <router-outlet />
  `,
})
export class App {
  protected readonly auth = inject(AuthService);
  private readonly router = inject(Router);

  logout(): void {
    this.auth.logout().subscribe(() => void this.router.navigate(['/login']));
  }
}
